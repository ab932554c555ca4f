"""EMA teacher math and the teacher's mode."""

from __future__ import annotations

import pytest
import torch
from torch import nn

from benchmark.models import ema_update


def _net(seed: int) -> nn.Module:
    torch.manual_seed(seed)
    return nn.Sequential(nn.Conv2d(2, 3, 1), nn.BatchNorm2d(3))


def _fill_running_stats(net: nn.Module, value: float) -> None:
    net[1].running_mean.fill_(value)
    net[1].running_var.fill_(value + 1)
    net[1].num_batches_tracked.fill_(int(value * 10))


def test_ema_parameters_match_hand_computation():
    teacher, student = _net(0), _net(1)
    t_weight = teacher[0].weight.detach().clone()
    s_weight = student[0].weight.detach().clone()
    ema_update(teacher, student, momentum=0.9, buffers="skip")
    expected = 0.9 * t_weight + 0.1 * s_weight
    torch.testing.assert_close(teacher[0].weight, expected)
    # the student is unchanged
    torch.testing.assert_close(student[0].weight, s_weight)


@pytest.mark.parametrize("policy, mean, tracked", [("ema", 0.9 * 1 + 0.1 * 3, 30),
                                                   ("copy", 3.0, 30), ("skip", 1.0, 10)])
def test_ema_buffer_policies(policy, mean, tracked):
    teacher, student = _net(0), _net(1)
    _fill_running_stats(teacher, 1.0)
    _fill_running_stats(student, 3.0)
    ema_update(teacher, student, momentum=0.9, buffers=policy)
    assert torch.allclose(teacher[1].running_mean, torch.full((3,), mean))
    assert int(teacher[1].num_batches_tracked) == tracked


def test_ema_rejects_bad_arguments():
    with pytest.raises(ValueError, match="buffer policy"):
        ema_update(_net(0), _net(1), 0.9, buffers="mean")
    with pytest.raises(ValueError, match="momentum"):
        ema_update(_net(0), _net(1), 1.5)
