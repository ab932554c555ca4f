"""mIoU with per-class IoU (docs/methods/README.md#evaluation).

MMSeg's ``IoUMetric`` accumulates the per-class intersection and union (reused here
unchanged through ``process``) but returns only rounded summaries and averages with
``nanmean``. The protocol defines ``IoU_c = I_c / (U_c + 1e-10)`` averaged over all C
classes, and the run record needs every class, so ``compute_metrics`` is replaced.
"""

from __future__ import annotations

from mmseg.evaluation import IoUMetric
from mmseg.registry import METRICS


@METRICS.register_module()
class PerClassIoUMetric(IoUMetric):
    """``IoUMetric`` returning ``mIoU``, ``aAcc`` and ``IoU.<class>`` (percent, unrounded)."""

    def compute_metrics(self, results: list) -> dict[str, float]:
        intersect, union, _, label_area = (sum(parts) for parts in zip(*results))
        iou = intersect.double() / (union.double() + 1e-10)
        metrics = {
            "mIoU": float(iou.mean() * 100),
            "aAcc": float(intersect.sum().double() / label_area.sum().clamp(min=1) * 100),
        }
        for name, value in zip(self.dataset_meta["classes"], iou.tolist()):
            metrics[f"IoU.{name}"] = value * 100
        return metrics

