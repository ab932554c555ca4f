"""Cross Pseudo Supervision, Chen et al. (docs/methods/cps.md)."""

from __future__ import annotations

import torch
import torch.nn.functional as F
from mmseg.registry import MODELS
from torch import Tensor

from benchmark.models import SemiBatch, SemiSegmentor
from benchmark.registry import register_method
from methods.common.box_masks import box_masks, shifted_partner
from methods.common.mixing import mix_maps


@register_method(
    "cps",
    description="CPS: two differently initialised networks supervise each other (with CutMix)",
    paper="Chen et al., Semi-Supervised Semantic Segmentation with Cross Pseudo "
          "Supervision, CVPR 2021 (charlesCXK/TorchSemiSeg)",
)
class CPS(SemiSegmentor):
    """Two networks ``f1`` (the student, evaluated) and ``f2`` with independent heads.

    ``L = meanCE(z1_l, y) + meanCE(z2_l, y) + lambda * L_cps`` where
    ``L_cps = meanCE(z1, argmax z2) + meanCE(z2, argmax z1)``:

    * with CutMix (default): on the mix of two unlabeled images (3-box XOR mask,
      proportion 0.25-0.5); pseudo-labels come from each network's train-mode,
      no-grad logits on the unmixed images, mixed with the same mask;
    * without CutMix: on the weak batch ``[x_l; x_u]``, every pixel.

    Both networks share one SGD optimizer; SGD's update is per parameter, so this equals
    two optimizers with identical schedules. Backbones start from the same weights
    (as from the same ImageNet checkpoint); decode heads are initialised independently.

    Args:
        cps_weight: ``lambda`` (CutMix: 1 VOC / 5 Cityscapes; plain: 1.5 / 6).
        cutmix: Use the CutMix variant.
        mask_prop_range: Box area proportion range of the CutMix variant.
        mask_boxes: Number of XOR-combined boxes.
    """

    def __init__(self, cps_weight: float = 1.0, cutmix: bool = True,
                 mask_prop_range: tuple[float, float] = (0.25, 0.5), mask_boxes: int = 3,
                 **kwargs) -> None:
        super().__init__(**kwargs)
        self.student2 = MODELS.build(kwargs["segmentor"])
        self.cps_weight = cps_weight
        self.cutmix = cutmix
        self.mask_prop_range = tuple(mask_prop_range)
        self.mask_boxes = mask_boxes

    def init_weights(self) -> None:
        """Initialise both networks, then give ``f2`` the backbone weights of ``f1``."""
        super().init_weights()
        self.student2.backbone.load_state_dict(self.student.backbone.state_dict())

    def _cross_loss(self, logits1: Tensor, logits2: Tensor, target1: Tensor,
                    target2: Tensor) -> Tensor:
        # each network learns from the other's hard pseudo-label
        return F.cross_entropy(logits1, target2) + F.cross_entropy(logits2, target1)

    def compute_losses(self, batch: SemiBatch) -> dict[str, Tensor]:
        num_labeled = batch.labeled.shape[0]
        if self.cutmix:
            raw1 = self.raw_logits(self.student, batch.labeled)
            raw2 = self.raw_logits(self.student2, batch.labeled)
            loss_cps, pseudo = self._cutmix_cps(batch.unlabeled.weak)
        else:
            inputs = torch.cat([batch.labeled, batch.unlabeled.weak])
            raw1 = self.raw_logits(self.student, inputs)
            raw2 = self.raw_logits(self.student2, inputs)
            logits1 = self.upsample(self.student, raw1, inputs.shape[-2:])
            logits2 = self.upsample(self.student2, raw2, inputs.shape[-2:])
            loss_cps = self._cross_loss(logits1, logits2, logits1.detach().argmax(1),
                                        logits2.detach().argmax(1))
            pseudo = logits1[num_labeled:].detach().argmax(1)
            raw1, raw2 = raw1[:num_labeled], raw2[:num_labeled]
        losses = self.supervised_loss(self.student, raw1, batch.labeled_samples)
        losses.update(self.supervised_loss(self.student2, raw2, batch.labeled_samples,
                                           prefix="sup.net2_"))
        losses["unsup.loss_cps"] = self.cps_weight * loss_cps
        self.report_pseudo_labels("pseudo_label", pseudo)
        return losses

    def _cutmix_cps(self, images: Tensor) -> tuple[Tensor, Tensor]:
        """CPS loss on CutMix'd unlabeled images; also returns f1's unmixed pseudo-label."""
        partner = shifted_partner(images.shape[0]).to(images.device)
        box = box_masks(images.shape[0], *images.shape[-2:], self.mask_prop_range,
                        self.mask_boxes, device=images.device)

        # pseudo-labels: train mode, no gradient, on the unmixed images, then mixed
        with torch.no_grad():
            unmixed1 = self.logits(self.student, images)
            unmixed2 = self.logits(self.student2, images)
        target1 = mix_maps(box, unmixed1, unmixed1[partner]).argmax(dim=1)
        target2 = mix_maps(box, unmixed2, unmixed2[partner]).argmax(dim=1)

        # student passes on the mixed images
        mixed = mix_maps(box, images, images[partner])
        logits1 = self.logits(self.student, mixed)
        logits2 = self.logits(self.student2, mixed)
        return self._cross_loss(logits1, logits2, target1, target2), unmixed1.argmax(dim=1)


@register_method(
    "cps_nocutmix",
    description="CPS without CutMix: cross pseudo-labels on the weak batch [x_l; x_u]",
    paper="Chen et al., Semi-Supervised Semantic Segmentation with Cross Pseudo "
          "Supervision, CVPR 2021 (charlesCXK/TorchSemiSeg, no-CutMix configs)",
)
class CPSNoCutMix(CPS):
    """CPS on weak views only (``cutmix=False``; lambda 1.5 VOC / 6 Cityscapes)."""
