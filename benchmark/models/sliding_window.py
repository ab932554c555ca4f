"""Sliding-window placement and the window-averaged softmax, shared by evaluation and labelling.

Two placement rules exist for a window of ``w`` pixels moved with stride ``s`` along an
axis of ``n`` pixels:

``official`` (UniMatch, U2PL and CPS evaluate this way)
    Windows start at ``0, s, 2s, ...`` while the start is inside the image; a window that
    reaches past the border is clipped to it, so the last windows are smaller than ``w``.
``mmseg`` (MMSegmentation's ``EncoderDecoder.slide_inference``)
    ``max(n - w + s - 1, 0) // s + 1`` windows starting at ``0, s, 2s, ...``; a window
    that reaches past the border is shifted back inside the image (start ``n - w``).

Along both axes a window smaller than the image is never padded: an image smaller than
``w`` is one window. The network's softmax outputs are added up per pixel over the
windows that cover it and divided by their number. The official code keeps the plain sum;
dividing every pixel's sum by its positive window count leaves the argmax unchanged.
"""

from __future__ import annotations

from typing import Callable, Sequence

import torch
from torch import Tensor

WINDOW_RULES = ("official", "mmseg")
DEFAULT_WINDOW_RULE = "official"  # of SlideSoftmaxEncoderDecoder (the real protocols)
Box = tuple[int, int, int, int]
LogitsFn = Callable[[Tensor], Tensor]


def check_window_rule(rule: str) -> str:
    """Return ``rule`` if it is a known placement rule.

    Raises:
        ValueError: Naming the rule and the choices.
    """
    if rule not in WINDOW_RULES:
        raise ValueError(f"unknown sliding-window rule {rule!r} (test_cfg.window_rule); "
                         f"choose one of: {', '.join(WINDOW_RULES)}")
    return rule


def evaluation_window_rule(network) -> str:
    """The rule a network's sliding-window evaluation uses; ``"mmseg"`` if it does not slide.

    ``SlideSoftmaxEncoderDecoder`` has ``window_rule`` (``test_cfg.window_rule``); MMSeg's
    own ``EncoderDecoder`` slides by MMSeg's rule. A network that evaluates whole images
    gets MMSeg's rule, which places no window beyond the first where one fits.
    """
    test_cfg = getattr(network, "test_cfg", None) or {}
    if test_cfg.get("mode") != "slide":
        return "mmseg"
    return getattr(network, "window_rule", "mmseg")


def axis_windows(size: int, window: int, stride: int, rule: str) -> list[tuple[int, int]]:
    """``(start, end)`` of every window along one axis of ``size`` pixels.

    Args:
        size: Image extent along the axis.
        window: Window extent.
        stride: Step between window starts.
        rule: ``"official"`` (clip at the border) or ``"mmseg"`` (shift inside).
    """
    check_window_rule(rule)
    if window < 1 or stride < 1:
        raise ValueError(f"window and stride must be positive, got {window} and {stride}")
    if rule == "official":
        return [(start, min(start + window, size)) for start in range(0, size, stride)]
    count = max(size - window + stride - 1, 0) // stride + 1
    spans = []
    for index in range(count):
        end = min(index * stride + window, size)
        spans.append((max(end - window, 0), end))
    return spans


def window_boxes(height: int, width: int, window: Sequence[int], stride: Sequence[int],
                 rule: str) -> list[Box]:
    """Every window as ``(y0, y1, x0, x1)``, rows outer, columns inner.

    Args:
        height: Image height.
        width: Image width.
        window: ``(h, w)`` of the window.
        stride: ``(h, w)`` stride.
        rule: ``"official"`` or ``"mmseg"``.
    """
    rows = axis_windows(height, window[0], stride[0], rule)
    cols = axis_windows(width, window[1], stride[1], rule)
    return [(y0, y1, x0, x1) for y0, y1 in rows for x0, x1 in cols]


def sliding_window_probs(logits_fn: LogitsFn, image: Tensor, window: Sequence[int],
                         stride: Sequence[int], rule: str) -> Tensor:
    """Per-pixel mean over the covering windows of the window's softmax, ``[B, C, H, W]``.

    Args:
        logits_fn: Maps an image crop ``[B, 3, h, w]`` to logits ``[B, C, h, w]``.
        image: Normalised images ``[B, 3, H, W]``.
        window: ``(h, w)`` of the window.
        stride: ``(h, w)`` stride.
        rule: ``"official"`` or ``"mmseg"`` (module docstring).
    """
    height, width = image.shape[-2:]
    total = count = None
    for y0, y1, x0, x1 in window_boxes(height, width, window, stride, rule):
        probs = logits_fn(image[..., y0:y1, x0:x1]).float().softmax(dim=1)
        if total is None:
            total = probs.new_zeros(*probs.shape[:2], height, width)
            count = probs.new_zeros(1, 1, height, width)
        total[..., y0:y1, x0:x1] += probs
        count[..., y0:y1, x0:x1] += 1
    return total / count


def covered_by_same_windows(height: int, width: int, window: Sequence[int],
                            stride: Sequence[int]) -> Tensor:
    """Bool map ``[H, W]``: the pixel's covering windows are the same boxes under both rules.

    A pixel differs when a window of one rule only (a box the other rule does not place)
    covers it.
    """
    official, mmseg = (set(window_boxes(height, width, window, stride, rule))
                       for rule in WINDOW_RULES)
    same = torch.ones(height, width, dtype=torch.bool)
    for y0, y1, x0, x1 in official ^ mmseg:
        same[y0:y1, x0:x1] = False
    return same
