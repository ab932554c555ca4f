"""Supervised loss and mIoU against independent computations."""

from __future__ import annotations

import pytest
import torch
import torch.nn.functional as F
from mmengine.structures import PixelData
from mmseg.structures import SegDataSample

from benchmark.evaluation import PerClassIoUMetric
from tests.conftest import build_model, build_run_config


def miou_from_confusion(confusion: torch.Tensor) -> float:
    """mIoU (percent) of a ``[C, C]`` confusion matrix (rows = truth), written independently."""
    confusion = confusion.double()
    intersect = confusion.diag()
    union = confusion.sum(0) + confusion.sum(1) - intersect
    return float((intersect / (union + 1e-10)).mean() * 100)


def test_supervised_loss_is_mean_ce_over_valid_pixels(tmp_path):
    cfg = build_run_config("supervised", tmp_path)
    model = build_model(cfg)
    torch.manual_seed(0)
    raw = torch.randn(2, 7, 16, 16)
    labels = torch.randint(0, 7, (2, 64, 64))
    labels[0, :10] = 255
    samples = []
    for label in labels:
        sample = SegDataSample()
        sample.gt_sem_seg = PixelData(data=label[None])
        samples.append(sample)
    losses = model.supervised_loss(model.student, raw, samples)
    upsampled = F.interpolate(raw, size=(64, 64), mode="bilinear", align_corners=True)
    expected = F.cross_entropy(upsampled, labels, ignore_index=255)
    torch.testing.assert_close(losses["sup.loss_ce"], expected)


def test_miou_metric_matches_confusion_matrix():
    torch.manual_seed(0)
    num_classes = 4
    metric = PerClassIoUMetric(iou_metrics=["mIoU"])
    metric.dataset_meta = {"classes": ("a", "b", "c", "d")}
    confusion = torch.zeros(num_classes, num_classes, dtype=torch.long)
    for _ in range(3):
        gt = torch.randint(0, num_classes, (20, 20))
        gt[:2] = 255
        pred = torch.where(torch.rand(20, 20) < 0.6, gt.clamp(max=3), torch.randint(0, 4, (20, 20)))
        sample = {"pred_sem_seg": {"data": pred[None]}, "gt_sem_seg": {"data": gt[None]}}
        metric.process({}, [sample])
        valid = gt != 255
        confusion += torch.bincount(gt[valid] * num_classes + pred[valid],
                                    minlength=num_classes**2).view(num_classes, num_classes)
    metrics = metric.compute_metrics(metric.results)
    assert abs(metrics["mIoU"] - miou_from_confusion(confusion)) < 1e-9
    per_class = [metrics[f"IoU.{c}"] for c in "abcd"]
    assert abs(sum(per_class) / 4 - metrics["mIoU"]) < 1e-9
    # a class that never occurs counts as IoU 0 in the mean (docs/methods/README.md#evaluation)
    assert miou_from_confusion(torch.tensor([[5, 0], [0, 0]])) == pytest.approx(50.0)
