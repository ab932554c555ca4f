"""CutMix-Seg, French et al. (docs/methods/cutmix_seg.md)."""

from __future__ import annotations

from torch import Tensor

from benchmark.models import SemiBatch, SemiSegmentor
from benchmark.registry import register_method
from methods.common.box_masks import box_masks, shifted_partner
from methods.common.mixing import mix_maps


@register_method(
    "cutmix_seg",
    description="CutMix-Seg: mean teacher with CutMix consistency (squared error, conf-scaled)",
    paper="French et al., Semi-supervised semantic segmentation needs strong, varied "
          "perturbations, BMVC 2020",
)
class CutMixSeg(SemiSegmentor):
    """Mean teacher whose student sees a CutMix of two unlabeled images.

    The target is the same mix of the teacher's logits on the two unmixed images;
    ``L_cons = 1/(BHW) sum_i v_i c sum_k (p_s,ik - p_t,ik)^2`` with the batch scalar
    ``c`` = fraction of pixels whose teacher confidence is at least ``conf_thresh``.

    Args:
        consistency_weight: ``w_cons``.
        conf_thresh: Confidence threshold of the batch proportion ``c`` (0.97).
        mask_prop: Box area proportion (0.5, one box).
    """

    def __init__(self, consistency_weight: float = 1.0, conf_thresh: float = 0.97,
                 mask_prop: float = 0.5, **kwargs) -> None:
        super().__init__(**kwargs)
        self.consistency_weight = consistency_weight
        self.conf_thresh = conf_thresh
        self.mask_prop = mask_prop

    def compute_losses(self, batch: SemiBatch) -> dict[str, Tensor]:
        images_a = batch.unlabeled.weak
        partner = shifted_partner(images_a.shape[0]).to(images_a.device)
        images_b = images_a[partner]
        valid_a = batch.unlabeled.valid_mask
        height, width = images_a.shape[-2:]
        box = box_masks(images_a.shape[0], height, width, (self.mask_prop, self.mask_prop),
                        device=images_a.device)

        # teacher on the two unmixed batches, then mix its logits
        teacher_a = self.teacher_logits(images_a)
        teacher_probs = mix_maps(box, teacher_a, teacher_a[partner]).softmax(dim=1)
        valid = mix_maps(box, valid_a, valid_a[partner]).float()

        # student on the mixed images
        student_probs = self.logits(self.student, mix_maps(box, images_a, images_b)).softmax(1)

        # losses
        confident = (teacher_probs.max(dim=1).values >= self.conf_thresh).float().mean()
        squared = (student_probs - teacher_probs).pow(2).sum(dim=1)
        loss_cons = (valid * confident * squared).mean()
        raw_labeled = self.raw_logits(self.student, batch.labeled)
        losses = self.supervised_loss(self.student, raw_labeled, batch.labeled_samples)
        losses["unsup.loss_cons"] = self.consistency_weight * loss_cons
        losses["diag.confident_fraction"] = confident
        self.report_pseudo_labels("pseudo_label", teacher_a.argmax(dim=1))
        return losses
