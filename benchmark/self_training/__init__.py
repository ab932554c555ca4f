"""Offline self-training in rounds (DARS, UPC): loop, pseudo-labelling, data, base class.

Importing this package registers the loop, the per-round learning-rate schedule, the
round datasets and transforms and the data preprocessor in MMSegmentation's registries.
A round-based method subclasses :class:`SelfTrainingSegmentor` and sets
``train_cfg.type='SelfTrainingLoop'`` with its rounds in its leaf config.
"""

from benchmark.self_training.data import (
    LoadEntropyMap,
    PackPseudoLabeledInputs,
    PseudoLabeledDataset,
    PseudoLabelListDataset,
    RandomGaussianBlur,
    SelfTrainingDataPreProcessor,
    round_pipeline,
)
from benchmark.self_training.labeling import (
    LabelingSettings,
    PredictionStore,
    PseudoLabeler,
    PseudoLabelSelection,
    RoundLabels,
    SelectionContext,
    teacher_probabilities,
)
from benchmark.self_training.loop import (
    RoundPolyLR,
    RoundSpec,
    SelfTrainingLoop,
    labeling_settings,
    round_loader_cfg,
    split_iterations,
)
from benchmark.self_training.segmentor import SelfTrainingBatch, SelfTrainingSegmentor

__all__ = [
    "LabelingSettings", "LoadEntropyMap", "PackPseudoLabeledInputs", "PredictionStore",
    "PseudoLabelListDataset", "PseudoLabelSelection", "PseudoLabeledDataset", "PseudoLabeler",
    "RandomGaussianBlur", "RoundLabels", "RoundPolyLR", "RoundSpec",
    "SelectionContext", "SelfTrainingBatch", "SelfTrainingDataPreProcessor", "SelfTrainingLoop",
    "SelfTrainingSegmentor", "labeling_settings", "round_loader_cfg", "round_pipeline",
    "split_iterations", "teacher_probabilities",
]
