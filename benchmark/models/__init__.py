"""The semi-supervised segmentor base, EMA math, backbones, the official DeepLabv3+ head,
the official OHEM loss and sliding-window inference."""

from benchmark.models.backbones import TimmBackbone
from benchmark.models.ema import ema_update
from benchmark.models.official_deeplabv3plus_head import OfficialDeepLabV3PlusHead
from benchmark.models.ohem_loss import ProbOhemCrossEntropyLoss
from benchmark.models.semi_segmentor import SemiBatch, SemiSegmentor
from benchmark.models.slide import SlideSoftmaxEncoderDecoder

__all__ = ["OfficialDeepLabV3PlusHead", "ProbOhemCrossEntropyLoss", "SemiBatch", "SemiSegmentor",
           "SlideSoftmaxEncoderDecoder", "TimmBackbone", "ema_update"]
