"""The evaluated network of a composed config in one line: head type and parameter counts."""

from __future__ import annotations

import warnings
from dataclasses import dataclass

from mmengine.config import Config


@dataclass(frozen=True)
class NetworkSummary:
    """Parameter counts of a config's segmentor (without a method's extra modules).

    Attributes:
        head: Decode head type.
        head_parameters: Parameters of the decode head.
        backbone: Backbone type.
        backbone_parameters: Parameters of the backbone.
        total_parameters: Parameters of the whole segmentor.
    """

    head: str
    head_parameters: int
    backbone: str
    backbone_parameters: int
    total_parameters: int

    def __str__(self) -> str:
        return (f"decode head {self.head} {self.head_parameters:,} parameters, backbone "
                f"{self.backbone} {self.backbone_parameters:,}, total {self.total_parameters:,}")


def summarize_network(cfg: Config) -> NetworkSummary:
    """Build ``cfg.model.segmentor`` on the ``meta`` device (no memory, no weights) and count.

    Args:
        cfg: A composed run config.

    Returns:
        The head and backbone types with their parameter counts.
    """
    import torch
    from mmengine.registry import DefaultScope
    from mmseg.registry import MODELS

    with DefaultScope.overwrite_default_scope(cfg.get("default_scope", "mmseg")), \
            torch.device("meta"), warnings.catch_warnings():
        warnings.simplefilter("ignore")
        network = MODELS.build(cfg.model.segmentor)

    def count(module: torch.nn.Module) -> int:
        return sum(p.numel() for p in module.parameters())

    return NetworkSummary(type(network.decode_head).__name__, count(network.decode_head),
                          type(network.backbone).__name__, count(network.backbone),
                          count(network))
