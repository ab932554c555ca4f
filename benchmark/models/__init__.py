"""The semi-supervised segmentor base, EMA math, backbones (CNNs, timm ViTs), the official
DeepLabv3+ head, the DPT head on timm ViTs, the official OHEM loss and sliding-window
inference."""

from benchmark.models.backbones import TimmBackbone
from benchmark.models.ema import ema_update
from benchmark.models.official_deeplabv3plus_head import OfficialDeepLabV3PlusHead
from benchmark.models.ohem_loss import ProbOhemCrossEntropyLoss
from benchmark.models.semi_segmentor import SemiBatch, SemiSegmentor
from benchmark.models.slide import SlideSoftmaxEncoderDecoder
from benchmark.models.timm_dpt_head import TimmDPTHead
from benchmark.models.timm_vit import TimmViTBackbone

__all__ = ["OfficialDeepLabV3PlusHead", "ProbOhemCrossEntropyLoss", "SemiBatch", "SemiSegmentor",
           "SlideSoftmaxEncoderDecoder", "TimmBackbone", "TimmDPTHead", "TimmViTBackbone",
           "ema_update"]
