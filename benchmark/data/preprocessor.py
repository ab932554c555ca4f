"""Data preprocessor for semi-supervised batches.

MMSeg's ``SegDataPreProcessor`` handles ordinary (labeled or validation) batches; this
subclass adds the branch structure of :class:`~benchmark.data.SemiSegDataset` items:
each branch is normalised and stacked, strong views and masks are stacked alongside.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import torch
from mmseg.models import SegDataPreProcessor
from mmseg.registry import MODELS
from torch import Tensor


@dataclass
class UnlabeledBatch:
    """A batch of unlabeled crops (docs/methods/README.md#data-pipeline), without any label.

    Attributes:
        weak: Normalised weak views ``[B, 3, S, S]``.
        strong: Normalised strong views, one ``[B, 3, S, S]`` tensor per view.
        pad_mask: ``[B, S, S]`` bool, True on crop padding.
        cutmix_boxes: ``[B, k, S, S]`` float, 1 where view ``k`` takes the mix partner.
    """

    weak: Tensor
    strong: list[Tensor] = field(default_factory=list)
    pad_mask: Tensor | None = None
    cutmix_boxes: Tensor | None = None

    @property
    def valid_mask(self) -> Tensor:
        """``[B, S, S]`` bool, True on real (non-padded) pixels."""
        return ~self.pad_mask


@MODELS.register_module()
class SemiSegDataPreProcessor(SegDataPreProcessor):
    """``SegDataPreProcessor`` that also understands semi-supervised branch dicts.

    Training batches from :class:`~benchmark.data.SemiSegDataset` become::

        inputs = {'labeled': Tensor, 'unlabeled': UnlabeledBatch, 'unlabeled_mix': ...}
        data_samples = {'labeled': [SegDataSample], 'hidden_gt': {'unlabeled': Tensor, ...}}

    ``hidden_gt`` (the unlabeled ground truth, 255 where unknown) feeds diagnostics only.
    Other batches (validation) go through ``SegDataPreProcessor`` unchanged.
    """

    def forward(self, data: dict, training: bool = False) -> dict:
        if "labeled" not in data:
            return super().forward(data, training)
        labeled = super().forward(data["labeled"], training=True)
        inputs = {"labeled": labeled["inputs"]}
        samples = {"labeled": labeled["data_samples"], "hidden_gt": {}}
        for branch in ("unlabeled", "unlabeled_mix"):
            if branch in data:
                inputs[branch], samples["hidden_gt"][branch] = self._unlabeled(data[branch])
        return {"inputs": inputs, "data_samples": samples}

    def _normalize(self, images: list[Tensor]) -> Tensor:
        batch = torch.stack(images).to(self.device).float()
        if self.channel_conversion:
            batch = batch[:, [2, 1, 0]]
        if self._enable_normalize:
            batch = (batch - self.mean) / self.std
        return batch

    def _unlabeled(self, branch: dict) -> tuple[UnlabeledBatch, Tensor]:
        # pseudo_collate transposes per-sample view lists: strong[k] holds view k of each sample
        strong = [self._normalize(list(view)) for view in branch["strong"]]
        boxes = torch.stack(branch["cutmix_boxes"]).to(self.device).float()
        batch = UnlabeledBatch(
            weak=self._normalize(branch["inputs"]),
            strong=strong,
            pad_mask=torch.stack(branch["pad_mask"]).to(self.device),
            cutmix_boxes=boxes,
        )
        hidden_gt = torch.stack(branch["hidden_gt"]).to(self.device)
        return batch, hidden_gt
