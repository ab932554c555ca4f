"""The semi-supervised segmentor base, EMA math, backbones and sliding-window inference."""

from benchmark.models.backbones import TimmBackbone
from benchmark.models.ema import ema_update
from benchmark.models.semi_segmentor import SemiBatch, SemiSegmentor
from benchmark.models.slide import SlideSoftmaxEncoderDecoder

__all__ = ["SemiBatch", "SemiSegmentor", "SlideSoftmaxEncoderDecoder", "TimmBackbone",
           "ema_update"]
