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


def _semi_segmentor(momentum: float, **kwargs):
    from benchmark.models import SemiSegmentor

    segmentor = dict(type="EncoderDecoder",
                     backbone=dict(type="ResNetV1c", depth=18, stem_channels=8, base_channels=8,
                                   num_stages=1, out_indices=(0,), strides=(1,),
                                   dilations=(1,)),
                     decode_head=dict(type="FCNHead", in_channels=8, channels=8, num_convs=0,
                                      concat_input=False, num_classes=3, in_index=0))
    return SemiSegmentor(segmentor=segmentor, ema_momentum=momentum, **kwargs)


@pytest.mark.parametrize("iteration, expected", [(0, 0.0), (1, 0.5), (9, 0.9),
                                                 (998, 1 - 1 / 999), (999, 0.999),
                                                 (5000, 0.999)])
def test_ema_warmup_matches_mean_teacher_formula(iteration, expected):
    model = _semi_segmentor(0.999)
    assert model.momentum_at(iteration) == pytest.approx(expected)
    assert _semi_segmentor(0.999, ema_warmup=False).momentum_at(iteration) == 0.999


def test_ema_time_constant_scales_with_schedule():
    # tau = 1/(1-0.999) = 1000 iterations of an 80000-iteration paper schedule; a 2000-
    # iteration run keeps the fraction: tau' = 1000 * 2000 / 80000 = 25, w' = 1 - 1/25.
    model = _semi_segmentor(0.999, ema_reference_iters=80000)
    model.set_train_progress(0, 2000)
    assert model.schedule_momentum() == pytest.approx(0.96)
    assert model.momentum_at(100) == pytest.approx(0.96)
    assert model.momentum_at(3) == pytest.approx(0.75)  # the warm-up still applies
    # a time constant below one iteration means the teacher is the student
    fast = _semi_segmentor(0.9, ema_reference_iters=80000)
    fast.set_train_progress(0, 2000)
    assert fast.schedule_momentum() == 0.0
    assert model.ema_policy()["effective_momentum"] == pytest.approx(0.96)


def test_first_update_copies_student_then_averages():
    model = _semi_segmentor(0.999)
    with torch.no_grad():
        for param in model.student.parameters():
            param.add_(1.0)
    student = [p.detach().clone() for p in model.student.parameters()]
    model.update_teacher(0)  # w_0 = 0
    for t_param, s_param in zip(model.teacher.parameters(), student):
        torch.testing.assert_close(t_param, s_param)
    before = [p.detach().clone() for p in model.teacher.parameters()]
    with torch.no_grad():
        for param in model.student.parameters():
            param.add_(2.0)
    model.update_teacher(1)  # w_1 = 0.5
    for t_param, old, s_param in zip(model.teacher.parameters(), before,
                                     model.student.parameters()):
        torch.testing.assert_close(t_param, 0.5 * old + 0.5 * s_param)
