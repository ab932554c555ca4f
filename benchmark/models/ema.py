"""Exponential moving average of a student into a teacher network.

Convention: ``teacher <- w * teacher + (1 - w) * student`` where ``w`` (``momentum``)
weighs the *teacher*, e.g. 0.99 or 0.999 (docs/methods/README.md#ema-teacher, which also
describes the warm-up of ``w``). MMEngine's ``EMAHook`` keeps an averaged copy for
evaluation but no teacher the loss can use, so this is written here.
"""

from __future__ import annotations

import torch
from torch import nn

BUFFER_POLICIES = ("ema", "copy", "skip")


@torch.no_grad()
def ema_update(teacher: nn.Module, student: nn.Module, momentum: float,
               buffers: str = "ema") -> None:
    """Update ``teacher`` in place from ``student``.

    Args:
        teacher: The EMA network (same architecture as ``student``).
        student: The trained network.
        momentum: Weight ``w`` of the teacher, in ``[0, 1]``.
        buffers: BatchNorm buffer policy: ``"ema"`` averages float buffers like the
            parameters (integer buffers such as ``num_batches_tracked`` are copied),
            ``"copy"`` copies the student's buffers, ``"skip"`` leaves the teacher's own.

    Raises:
        ValueError: On an unknown buffer policy or momentum outside ``[0, 1]``.
    """
    if buffers not in BUFFER_POLICIES:
        raise ValueError(f"unknown EMA buffer policy '{buffers}'; use one of {BUFFER_POLICIES}")
    if not 0.0 <= momentum <= 1.0:
        raise ValueError(f"EMA momentum must be in [0, 1], got {momentum}")
    for t_param, s_param in zip(teacher.parameters(), student.parameters()):
        t_param.mul_(momentum).add_(s_param.detach(), alpha=1.0 - momentum)
    if buffers == "skip":
        return
    for t_buf, s_buf in zip(teacher.buffers(), student.buffers()):
        if buffers == "ema" and t_buf.dtype.is_floating_point:
            t_buf.mul_(momentum).add_(s_buf, alpha=1.0 - momentum)
        else:
            t_buf.copy_(s_buf)
