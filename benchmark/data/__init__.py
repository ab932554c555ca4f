"""Datasets, transforms and the data preprocessor for semi-supervised training.

Importing this package registers the classes in MMSegmentation's registries.
"""

from benchmark.data.datasets import SemiSegDataset, SplitListDataset
from benchmark.data.preprocessor import SemiSegDataPreProcessor, UnlabeledBatch
from benchmark.data.sample_stream import DrawIndexedSampler, SampleDraw
from benchmark.data.transforms import (
    CutMixBoxes,
    PackUnlabeledInputs,
    PadToCrop,
    RandomLongSideResize,
    StrongViews,
)

__all__ = [
    "DrawIndexedSampler", "SampleDraw", "SemiSegDataset", "SplitListDataset",
    "SemiSegDataPreProcessor", "UnlabeledBatch",
    "CutMixBoxes", "PackUnlabeledInputs", "PadToCrop", "RandomLongSideResize", "StrongViews",
]
