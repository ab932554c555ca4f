"""Datasets read from UniMatch-format split lists, and the semi-supervised pair dataset."""

from __future__ import annotations

import copy
from pathlib import Path
from typing import Sequence

import numpy as np
from mmengine.dataset import Compose
from mmseg.datasets import BaseSegDataset
from mmseg.registry import DATASETS

from benchmark.data.sample_stream import SampleDraw, seeded_draw, split_draw
from benchmark.splits import read_split_list


@DATASETS.register_module()
class SplitListDataset(BaseSegDataset):
    """An MMSeg dataset whose samples come from ``<image> <label>`` split lists.

    Args:
        split_lists: One or more list files; their pairs are concatenated.
        data_root: Folder the relative paths in the lists start from.
        label_prefix: If set, replaces the first folder of every label path (a Pascal
            root with ``SegmentationClassAug/`` instead of UniMatch's layout).
        **kwargs: Passed to :class:`mmseg.datasets.BaseSegDataset` (``metainfo``,
            ``pipeline``, ``test_mode``...).
    """

    def __init__(self, split_lists: Sequence[str], data_root: str,
                 label_prefix: str | None = None, **kwargs) -> None:
        self.split_lists = [split_lists] if isinstance(split_lists, str) else list(split_lists)
        self.label_prefix = label_prefix
        super().__init__(ann_file="", data_root=data_root, **kwargs)

    def load_data_list(self) -> list[dict]:
        root = Path(self.data_root)
        data_list = []
        for list_file in self.split_lists:
            for image, label in read_split_list(Path(list_file)):
                if self.label_prefix:
                    label = f"{self.label_prefix}/{label.split('/', 1)[-1]}"
                data_list.append(dict(
                    img_path=str(root / image),
                    seg_map_path=str(root / label),
                    label_map=self.label_map,
                    reduce_zero_label=self.reduce_zero_label,
                    seg_fields=[],
                ))
        return data_list


def _set_view_count(pipeline: list[dict], num_views: int, photometric: bool) -> list[dict]:
    """Return a copy of ``pipeline`` whose ``StrongViews`` step makes ``num_views`` views."""
    pipeline = copy.deepcopy(pipeline)
    for step in pipeline:
        if isinstance(step, dict) and step.get("type") == "StrongViews":
            step.update(num_views=num_views, photometric=photometric)
    return pipeline


@DATASETS.register_module()
class SemiSegDataset:
    """Yields ``{'labeled', 'unlabeled', 'unlabeled_mix'}`` samples for one iteration slot.

    An epoch is one pass over the unlabeled set; each item pairs unlabeled image ``i``
    with a uniformly drawn labeled image. ``unlabeled_mix`` is a second, independently
    augmented view of the same unlabeled image (UniMatch's mix partner; see
    docs/methods/README.md#data-pipeline). With ``labeled_only=True`` items hold only
    ``labeled`` and an epoch is one pass over the labeled set.

    Args:
        labeled: Config of the labeled :class:`SplitListDataset`.
        unlabeled: Config of the unlabeled :class:`SplitListDataset` (or None).
        labeled_only: Skip the unlabeled branch (supervised-only training).
        num_strong_views: Strong views per unlabeled image (and CutMix boxes).
        strong_photometric: Whether strong views get photometric augmentation.
        mix_batch: Whether to produce the ``unlabeled_mix`` branch.
    """

    def __init__(self, labeled: dict, unlabeled: dict | None = None, labeled_only: bool = False,
                 num_strong_views: int = 1, strong_photometric: bool = True,
                 mix_batch: bool = True) -> None:
        self.labeled = DATASETS.build(labeled)
        self.labeled_only = labeled_only or unlabeled is None
        self.mix_batch = mix_batch and not self.labeled_only
        self.unlabeled = None
        if not self.labeled_only:
            unlabeled = copy.deepcopy(unlabeled)
            unlabeled["pipeline"] = _set_view_count(unlabeled["pipeline"], num_strong_views,
                                                    strong_photometric)
            self.unlabeled = DATASETS.build(unlabeled)
        self.metainfo = self.labeled.metainfo

    def __len__(self) -> int:
        return len(self.labeled) if self.labeled_only else len(self.unlabeled)

    def __getitem__(self, draw: int | SampleDraw) -> dict:
        """The item of ``draw``: an index, or a :class:`SampleDraw` whose seed fixes every
        random choice of the item (the labeled partner, crops, flips, strong views)."""
        index, seed = split_draw(draw)
        with seeded_draw(seed):
            if self.labeled_only:
                return {"labeled": self.labeled[index]}
            item = {
                "labeled": self.labeled[np.random.randint(len(self.labeled))],
                "unlabeled": self.unlabeled[index],
            }
            if self.mix_batch:
                item["unlabeled_mix"] = self.unlabeled[index]
            return item

    @property
    def pipeline(self) -> Compose:
        """The labeled pipeline (for tools that inspect ``dataset.pipeline``)."""
        return self.labeled.pipeline
