"""The semi-supervised segmentor base, EMA math and shared losses."""

from benchmark.models.ema import ema_update
from benchmark.models.semi_segmentor import SemiBatch, SemiSegmentor

__all__ = ["SemiBatch", "SemiSegmentor", "ema_update"]
