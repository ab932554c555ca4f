"""Data of self-training rounds: pseudo-labeled datasets, transforms, preprocessor.

A round ``k >= 1`` trains on items ``{'labeled': ..., 'pseudo_labeled': ...}``: labeled
crops with their ground truth and unlabeled crops whose ``gt_sem_seg`` is the stored
pseudo-label of round ``k`` (and, for methods that need it, the teacher's entropy map
as a ``entropy_map`` field, geometrically aligned with the crop). The round pipelines
are the protocol's labeled pipeline with the round's scale range and extra transforms
(:func:`round_pipeline`).
"""

from __future__ import annotations

import copy
from pathlib import Path

import cv2
import numpy as np
import torch
from mmcv.transforms import BaseTransform
from mmengine.structures import PixelData
from mmseg.datasets.transforms import PackSegInputs
from mmseg.registry import DATASETS, MODELS, TRANSFORMS

from benchmark.data.datasets import SplitListDataset
from benchmark.data.preprocessor import SemiSegDataPreProcessor
from benchmark.data.sample_stream import SampleDraw, seeded_draw, split_draw
from benchmark.errors import BenchmarkError

ENTROPY_SUFFIX = ".entropy.npz"
ENTROPY_PAD = 255.0  # sentinel written by padding/rotation; entropies never reach it


def label_file(folder: Path, index: int) -> Path:
    """Pseudo-label PNG of unlabeled image ``index`` in a round folder."""
    return Path(folder) / f"{index:06d}.png"


def entropy_file(label_path: str | Path) -> Path:
    """Entropy map stored next to a pseudo-label PNG."""
    path = Path(label_path)
    return path.with_name(path.stem + ENTROPY_SUFFIX)


@DATASETS.register_module()
class PseudoLabelListDataset(SplitListDataset):
    """The unlabeled split list with each image's label replaced by its pseudo-label.

    Args:
        label_folder: Round folder holding ``<index:06d>.png`` for unlabeled image ``index``
            (list order).
        **kwargs: Passed to :class:`~benchmark.data.SplitListDataset`.
    """

    def __init__(self, label_folder: str, **kwargs) -> None:
        self.label_folder = Path(label_folder)
        super().__init__(**kwargs)

    def load_data_list(self) -> list[dict]:
        data_list = super().load_data_list()
        for index, info in enumerate(data_list):
            info["seg_map_path"] = str(label_file(self.label_folder, index))
        return data_list


@DATASETS.register_module()
class PseudoLabeledDataset:
    """Items ``{'labeled', 'pseudo_labeled'}`` for one iteration slot of a round.

    One epoch is one pass over the pseudo-labeled images; each item adds
    ``labeled_per_item`` uniformly drawn labeled crops (a list when more than one), so a
    batch of ``B_u`` items holds ``B_u·labeled_per_item`` labeled crops.

    Args:
        labeled: Config of the labeled :class:`~benchmark.data.SplitListDataset`.
        pseudo_labeled: Config of the :class:`PseudoLabelListDataset`.
        labeled_per_item: Labeled crops per item.
    """

    def __init__(self, labeled: dict, pseudo_labeled: dict, labeled_per_item: int = 1) -> None:
        if labeled_per_item < 1:
            raise ValueError(f"labeled_per_item must be >= 1, got {labeled_per_item}")
        self.labeled = DATASETS.build(labeled)
        self.pseudo_labeled = DATASETS.build(pseudo_labeled)
        self.labeled_per_item = labeled_per_item
        self.metainfo = self.labeled.metainfo

    def __len__(self) -> int:
        return len(self.pseudo_labeled)

    def __getitem__(self, draw: int | SampleDraw) -> dict:
        """The item of ``draw`` (an index or a :class:`~benchmark.data.sample_stream.SampleDraw`
        whose seed fixes the labeled partners and every augmentation)."""
        index, seed = split_draw(draw)
        with seeded_draw(seed):
            partners = np.random.randint(len(self.labeled), size=self.labeled_per_item)
            labeled = [self.labeled[int(i)] for i in partners]
            return {
                "labeled": labeled[0] if self.labeled_per_item == 1 else labeled,
                "pseudo_labeled": self.pseudo_labeled[index],
            }


@TRANSFORMS.register_module()
class LoadEntropyMap(BaseTransform):
    """Load the teacher's entropy map stored next to the pseudo-label, as a seg field.

    Geometric transforms then treat it like a label map (nearest resize, crop, flip, and
    the padding and rotation fill value 255, which :class:`PackPseudoLabeledInputs`
    turns back into 0).
    """

    def transform(self, results: dict) -> dict:
        with np.load(entropy_file(results["seg_map_path"])) as stored:
            results["entropy_map"] = stored["entropy"].astype(np.float32)
        results.setdefault("seg_fields", []).append("entropy_map")
        return results


@TRANSFORMS.register_module()
class RandomGaussianBlur(BaseTransform):
    """Blur the image with a ``kernel_size`` Gaussian (sigma from the size) w.p. ``prob``.

    The DARS training augmentation (``cv2.GaussianBlur(img, (5, 5), 0)`` with p = 0.5).
    """

    def __init__(self, prob: float = 0.5, kernel_size: int = 5) -> None:
        self.prob = prob
        self.kernel_size = kernel_size

    def transform(self, results: dict) -> dict:
        if np.random.rand() < self.prob:
            size = (self.kernel_size, self.kernel_size)
            results["img"] = cv2.GaussianBlur(results["img"], size, 0)
        return results


@TRANSFORMS.register_module()
class PackPseudoLabeledInputs(PackSegInputs):
    """``PackSegInputs`` plus the entropy map as ``data_samples.entropy_map`` (``[1, H, W]``)."""

    def transform(self, results: dict) -> dict:
        packed = super().transform(results)
        if "entropy_map" in results:
            entropy = results["entropy_map"].astype(np.float32)
            entropy[entropy >= ENTROPY_PAD - 1] = 0.0
            packed["data_samples"].set_data(
                {"entropy_map": PixelData(data=torch.from_numpy(entropy)[None])})
        return packed


def _find(pipeline: list[dict], kind: str) -> int | None:
    for index, step in enumerate(pipeline):
        if step.get("type") == kind:
            return index
    return None


def round_pipeline(base: list[dict], scale_range: tuple[float, float] | None = None,
                   extra_transforms: list[dict] | tuple = (), pseudo_labeled: bool = False,
                   entropy: bool = False) -> list[dict]:
    """A round's pipeline: the protocol's labeled pipeline with the round's augmentation.

    Args:
        base: The protocol's labeled pipeline (load, resize, pad, crop, flip, pack).
        scale_range: Replaces ``RandomLongSideResize.ratio_range`` if given.
        extra_transforms: Inserted right after the resize (e.g. rotation and blur).
        pseudo_labeled: Build the pseudo-labeled variant (packs the entropy map).
        entropy: Also load the stored entropy map (only with ``pseudo_labeled``).

    Raises:
        BenchmarkError: If the base pipeline lacks a step the round needs.
    """
    steps = copy.deepcopy(list(base))
    resize = _find(steps, "RandomLongSideResize")
    if resize is None and (scale_range is not None or extra_transforms):
        raise BenchmarkError("the protocol's labeled pipeline has no RandomLongSideResize; "
                             "a self-training round cannot set its scale range or transforms")
    if scale_range is not None:
        steps[resize]["ratio_range"] = tuple(scale_range)
    if extra_transforms:
        steps[resize + 1:resize + 1] = copy.deepcopy(list(extra_transforms))
    if not pseudo_labeled:
        return steps
    pack = _find(steps, "PackSegInputs")
    if pack is None:
        raise BenchmarkError("the protocol's labeled pipeline must end with PackSegInputs")
    steps[pack]["type"] = "PackPseudoLabeledInputs"
    if entropy:
        annotations = _find(steps, "LoadAnnotations")
        if annotations is None:
            raise BenchmarkError("the protocol's labeled pipeline has no LoadAnnotations")
        steps.insert(annotations + 1, dict(type="LoadEntropyMap"))
    return steps


@MODELS.register_module()
class SelfTrainingDataPreProcessor(SemiSegDataPreProcessor):
    """``SemiSegDataPreProcessor`` that also packs the ``pseudo_labeled`` branch.

    Labeled branches given as a list (several labeled crops per item) are merged first.
    The result adds ``inputs['pseudo_labeled']`` (``[B_u, 3, S, S]``) and
    ``data_samples['pseudo_labeled']`` (``SegDataSample`` s whose ``gt_sem_seg`` is the
    pseudo-label, with ``entropy_map`` where stored).
    """

    def forward(self, data: dict, training: bool = False) -> dict:
        if "labeled" not in data:
            return super().forward(data, training)
        data = dict(data)
        if isinstance(data["labeled"], list):
            data["labeled"] = {
                "inputs": [x for part in data["labeled"] for x in part["inputs"]],
                "data_samples": [s for part in data["labeled"] for s in part["data_samples"]],
            }
        pseudo = data.pop("pseudo_labeled", None)
        out = super().forward(data, training)
        if pseudo is not None:
            packed = super(SemiSegDataPreProcessor, self).forward(pseudo, training=True)
            out["inputs"]["pseudo_labeled"] = packed["inputs"]
            out["data_samples"]["pseudo_labeled"] = packed["data_samples"]
        return out
