"""Shared steps of UniMatch-style weak-to-strong methods (FixMatch, UniMatch, SOP...)."""

from __future__ import annotations

from dataclasses import dataclass

import torch
from torch import Tensor, nn

from benchmark.data.preprocessor import UnlabeledBatch
from methods.common.losses import pseudo_label_targets
from methods.common.mixing import mix_maps


@dataclass
class PseudoTargets:
    """Per-pixel targets of one unlabeled batch (all ``[B, H, W]`` except ``probs``).

    Attributes:
        probs: Softmax probabilities ``[B, C, H, W]``.
        confidence: Max probability.
        label: Argmax pseudo-label.
        valid: True on real (non-padded) pixels.
    """

    probs: Tensor
    confidence: Tensor
    label: Tensor
    valid: Tensor

    @classmethod
    def from_logits(cls, logits: Tensor, valid: Tensor) -> PseudoTargets:
        probs, confidence, label = pseudo_label_targets(logits)
        return cls(probs, confidence, label, valid)

    def reversed(self) -> PseudoTargets:
        """The targets of the batch in reverse order (image ``b`` gets ``B-1-b``'s)."""
        return PseudoTargets(self.probs.flip(0), self.confidence.flip(0), self.label.flip(0),
                             self.valid.flip(0))

    def mixed(self, box: Tensor, partner: PseudoTargets) -> PseudoTargets:
        """Targets of a CutMix'd image: ``partner`` inside ``box``, ``self`` outside."""
        return PseudoTargets(
            probs=mix_maps(box, self.probs, partner.probs),
            confidence=mix_maps(box, self.confidence, partner.confidence),
            label=mix_maps(box, self.label, partner.label),
            valid=mix_maps(box, self.valid, partner.valid),
        )


@torch.no_grad()
def eval_mode_logits(segmentor, network: nn.Module, inputs: Tensor) -> Tensor:
    """Logits of ``network`` in eval mode (BN running statistics), restoring its mode."""
    was_training = network.training
    network.eval()
    try:
        return segmentor.logits(network, inputs)
    finally:
        network.train(was_training)


def cutmix_strong_views(main: UnlabeledBatch, mix: UnlabeledBatch) -> list[Tensor]:
    """Paste the mix batch's strong view ``k`` into the main batch's view ``k`` (box ``k``)."""
    return [mix_maps(main.cutmix_boxes[:, k], view, mix.strong[k])
            for k, view in enumerate(main.strong)]
