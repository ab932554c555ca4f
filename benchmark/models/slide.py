"""Sliding-window inference whose windows add up softmax probabilities.

MMSeg's ``EncoderDecoder.slide_inference`` places the windows (window = ``crop_size``,
step = ``stride``, the last window shifted inside the image) and averages what
``encode_decode`` returns over the windows covering each pixel. The real protocols sum
the windows' *softmax outputs* and take the argmax; averaging probabilities gives the
same argmax, so only the per-window output changes here: probabilities instead of logits.
"""

from __future__ import annotations

from mmseg.models import EncoderDecoder
from mmseg.registry import MODELS
from torch import Tensor


@MODELS.register_module()
class SlideSoftmaxEncoderDecoder(EncoderDecoder):
    """``EncoderDecoder`` whose ``mode='slide'`` inference combines window probabilities.

    Training, whole-image inference and ``encode_decode`` outside the sliding window are
    unchanged (methods take logits from it for pseudo-labels).
    """

    _in_window = False

    def slide_inference(self, inputs: Tensor, batch_img_metas: list[dict]) -> Tensor:
        """Mean over windows of the softmax probabilities, ``[N, C, H, W]``."""
        self._in_window = True
        try:
            return super().slide_inference(inputs, batch_img_metas)
        finally:
            self._in_window = False

    def encode_decode(self, inputs: Tensor, batch_img_metas: list[dict]) -> Tensor:
        logits = super().encode_decode(inputs, batch_img_metas)
        return logits.softmax(dim=1) if self._in_window else logits
