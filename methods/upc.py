"""UPC with RAS on an offline self-training host (supervised teacher, one student round)."""

from __future__ import annotations

from torch import Tensor

from benchmark.data.photometric import PAPER_BLUR_SIGMA
from benchmark.registry import register_method
from benchmark.self_training import SelfTrainingBatch, SelfTrainingSegmentor
from methods.common import masked_cross_entropy
from methods.common.photometric import photometric_augment
from methods.ops.upc import RAS_KS, draw_partners, redundant_patch_cutmix


@register_method(
    "upc",
    description="UPC: uncertainty-aware patch CutMix with redundant augmentation (k = 2, 3, 5) "
                "on offline self-training from a supervised teacher",
    paper="Fang, Zhu, Cheng, Liu, Zhao, Wei, Locating Noise is Halfway Denoising for "
          "Semi-Supervised Segmentation, ICCV 2023",
)
class UPC(SelfTrainingSegmentor):
    """Plain self-training ("ST") with UPC on the pseudo-labeled crops.

    Round 0 trains the supervised teacher. Its argmax (no threshold) and entropy map
    ``H`` are stored for every unlabeled image; round 1 re-initialises the student and
    trains it on ``B_l`` labeled crops and ``B_u`` pseudo-labeled crops, each of which
    becomes ``len(ks)`` pairs (RAS, eq. 7): the ``k`` patches of an ``N x N`` grid with
    the largest summed entropy are replaced by the co-located patches of a labeled crop
    and its ground truth, a different labeled crop of the batch per ``k``. Photometric
    augmentation follows on the composed images. ``L = L_l + λ·L_u`` (eq. 2), both
    meanCE, ``L_u`` over all pairs of the batch.

    Args:
        unsup_weight: ``λ``.
        patch_grid: ``N``.
        ks: Patch counts of the RAS pairs.
        blur_kernel: Gaussian kernel of the photometric augmentation after UPC.
        blur_sigma: Sigma range of its blur (the protocol's ``strong_aug`` sets it).
    """

    def __init__(self, unsup_weight: float = 1.0, patch_grid: int = 4,
                 ks: tuple[int, ...] = RAS_KS, blur_kernel: int = 13,
                 blur_sigma: tuple[float, float] = PAPER_BLUR_SIGMA, **kwargs) -> None:
        super().__init__(**kwargs)
        self.unsup_weight = unsup_weight
        self.patch_grid = patch_grid
        self.ks = tuple(ks)
        self.blur_kernel = blur_kernel
        self.blur_sigma = tuple(blur_sigma)

    def compute_losses(self, batch: SelfTrainingBatch) -> dict[str, Tensor]:
        # labeled forward and loss
        raw_labeled = self.raw_logits(self.student, batch.labeled)
        losses = self.supervised_loss(self.student, raw_labeled, batch.labeled_samples)
        if batch.pseudo_images is None:
            return losses

        # RAS: one UPC pair per k, each with its own labeled partner from the batch
        partners = draw_partners(batch.pseudo_images.shape[0], batch.labeled.shape[0],
                                 len(self.ks)).to(batch.labeled.device)
        pairs = redundant_patch_cutmix(batch.pseudo_images, batch.pseudo_label, batch.entropy,
                                       batch.labeled, batch.labeled_gt, partners, self.ks,
                                       self.patch_grid)

        # photometric augmentation of the composed images, then the student pass
        preprocessor = self.data_preprocessor
        images = photometric_augment(pairs.images, preprocessor.mean, preprocessor.std,
                                     self.blur_kernel, self.blur_sigma)
        logits = self.logits(self.student, images)
        kept = pairs.labels != 255
        losses["unsup.loss_upc"] = self.unsup_weight * masked_cross_entropy(
            logits, pairs.labels, kept)
        losses["diag.pasted_ratio"] = pairs.masks.float().mean()
        return losses
