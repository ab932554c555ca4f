"""Sliding-window inference that adds up the windows' softmax outputs, official placement.

The protocol's ``test_cfg=dict(mode='slide', crop_size=(h, w), stride=(h, w),
window_rule=...)`` selects the placement of the windows
(:mod:`benchmark.models.sliding_window`): ``'official'`` (the default; the last windows
are clipped at the border, as UniMatch evaluates) or ``'mmseg'`` (MMSeg's rule: the last
window is shifted inside the image). The prediction is the argmax of the windows' softmax
outputs added up per pixel; ``seg_logits`` holds their mean over the covering windows.
"""

from __future__ import annotations

from mmseg.models import EncoderDecoder
from mmseg.registry import MODELS
from torch import Tensor

from benchmark.models.sliding_window import (
    DEFAULT_WINDOW_RULE,
    check_window_rule,
    sliding_window_probs,
)


@MODELS.register_module()
class SlideSoftmaxEncoderDecoder(EncoderDecoder):
    """``EncoderDecoder`` whose ``mode='slide'`` inference combines window probabilities.

    Training, whole-image inference and ``encode_decode`` are unchanged (methods take
    logits from it for pseudo-labels). ``test_cfg.window_rule`` (``'official'`` or
    ``'mmseg'``, default ``'official'``) is checked when the model is built.
    """

    def __init__(self, *args, **kwargs) -> None:
        super().__init__(*args, **kwargs)
        if self.test_cfg is not None:
            check_window_rule(self.window_rule)

    @property
    def window_rule(self) -> str:
        """The placement rule of the sliding windows."""
        return (self.test_cfg or {}).get("window_rule", DEFAULT_WINDOW_RULE)

    def slide_inference(self, inputs: Tensor, batch_img_metas: list[dict]) -> Tensor:
        """Mean over the covering windows of the softmax probabilities, ``[N, C, H, W]``.

        Args:
            inputs: Normalised images ``[N, 3, H, W]``.
            batch_img_metas: One meta dict per image.
        """

        def window_logits(crop: Tensor) -> Tensor:
            metas = [dict(meta, img_shape=crop.shape[2:]) for meta in batch_img_metas]
            return self.encode_decode(crop, metas)

        return sliding_window_probs(window_logits, inputs, self.test_cfg.crop_size,
                                    self.test_cfg.stride, self.window_rule)
