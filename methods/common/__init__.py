"""Pieces shared by method plugins: masked losses and CutMix mixing."""

from methods.common.losses import masked_cross_entropy, pseudo_label_targets
from methods.common.mixing import mix_maps

__all__ = ["masked_cross_entropy", "mix_maps", "pseudo_label_targets"]
