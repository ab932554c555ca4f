"""Base of round-based (offline self-training) method plugins."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Sequence

import torch
from mmseg.utils import SampleList
from torch import Tensor

from benchmark.models.semi_segmentor import SemiBatch, SemiSegmentor
from benchmark.self_training.labeling import PseudoLabelSelection, SelectionContext


@dataclass
class SelfTrainingBatch(SemiBatch):
    """A batch of a self-training round.

    Round 0 holds only the labeled part. Later rounds add pseudo-labeled crops: unlabeled
    images whose ``gt_sem_seg`` is the stored pseudo-label (255 = unlabeled or padding)
    and, where the method stores it, the teacher's entropy map aligned with the crop.

    Attributes:
        pseudo_images: Normalised pseudo-labeled crops ``[B_u, 3, S, S]``, or None.
        pseudo_samples: Their ``SegDataSample`` s, or None.
        round_index: The round being trained (0 = supervised).
    """

    pseudo_images: Tensor | None = None
    pseudo_samples: SampleList | None = None
    round_index: int = 0

    @property
    def pseudo_label(self) -> Tensor:
        """Pseudo-labels of the crops, ``[B_u, S, S]`` long, 255 = ignore."""
        return torch.stack([s.gt_sem_seg.data[0] for s in self.pseudo_samples]).long()

    @property
    def entropy(self) -> Tensor:
        """Teacher entropy on the crops, ``[B_u, S, S]`` (0 on padding)."""
        return torch.stack([s.entropy_map.data[0] for s in self.pseudo_samples]).float()


class SelfTrainingSegmentor(SemiSegmentor):
    """A method trained in rounds by :class:`~benchmark.self_training.SelfTrainingLoop`.

    Round 0 trains on labeled crops; before round ``k >= 1`` the loop has the model at
    the end of round ``k-1`` label the whole unlabeled set offline and asks the method
    to turn the teacher's argmax and confidence into pseudo-labels
    (:meth:`select_pseudo_labels`). The method's :meth:`compute_losses` then receives a
    :class:`SelfTrainingBatch`. There is no EMA teacher: the previous round's model is
    the teacher, and the student is the evaluated network.

    Attributes:
        round_based: Marks round-based plugins (the harness and the contract tests use it).
        round_diagnostics: Per-round scalars (``round<k>_kl``...), set by the loop and
            copied into the run record.
    """

    round_based = True

    def __init__(self, **kwargs) -> None:
        super().__init__(**kwargs)
        self.round_diagnostics: dict[str, float] = {}
        self.current_round = 0

    def select_pseudo_labels(self, predictions: Sequence[tuple[Tensor, Tensor]],
                             context: SelectionContext) -> PseudoLabelSelection:
        """Pseudo-labels of one round from the teacher's per-image argmax and confidence.

        The default keeps every argmax (plain self-training, no threshold).

        Args:
            predictions: ``(label [H, W], confidence [H, W])`` per unlabeled image.
            context: Round, settings, labeled class distribution, seed.
        """
        return PseudoLabelSelection(label=lambda index, label, confidence: label)

    def loss(self, inputs: dict, data_samples: dict) -> dict[str, Tensor]:
        """Build the :class:`SelfTrainingBatch` and compute the method's losses."""
        batch = SelfTrainingBatch(
            labeled=inputs["labeled"],
            labeled_samples=data_samples["labeled"],
            pseudo_images=inputs.get("pseudo_labeled"),
            pseudo_samples=data_samples.get("pseudo_labeled"),
            round_index=self.current_round,
        )
        return self.scale_unsupervised(self.compute_losses(batch))
