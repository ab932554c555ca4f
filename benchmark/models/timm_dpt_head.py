"""The DPT decode head of the ViT network: MMSeg's ``DPTHead`` on timm feature maps.

MMSeg's ``DPTHead`` (reassemble: 1x1 projections, resizing to strides p/4, p/2, p and 2p;
3x3 convolutions to ``channels``; four residual fusion blocks; a 3x3 projection and the
1x1 classifier) takes each of its four inputs as a ``[patch_map, class_token]`` pair, the
output layout of MMSeg's own ``VisionTransformer``. timm's ``forward_intermediates`` gives
the patch maps alone. :class:`TimmDPTHead` is the thin adapter between the two: it pairs
each map with no class token and runs the unmodified head, which with
``readout_type='ignore'`` (UniMatch V2's DPT drops the class token too) never reads it.
Every method then sees the four maps as plain backbone features (feature perturbation
multiplies or drops their channels like any other).
"""

from __future__ import annotations

from mmseg.models.decode_heads import DPTHead
from mmseg.registry import MODELS
from torch import Tensor

# UniMatch V2's DPT widths per ViT width: (features, out_channels of the four projections)
DPT_WIDTHS = {
    384: (64, (48, 96, 192, 384)),        # ViT-S
    768: (128, (96, 192, 384, 768)),      # ViT-B
    1024: (256, (256, 512, 1024, 1024)),  # ViT-L
    1536: (384, (1536, 1536, 1536, 1536)),  # ViT-g
}


def dpt_widths(embed_dim: int) -> tuple[int, tuple[int, int, int, int]]:
    """``(channels, post_process_channels)`` of the DPT head for a ViT of ``embed_dim``.

    UniMatch V2's values for ViT-S/B/L/g (:data:`DPT_WIDTHS`); other widths ``C`` get
    ``(max(8, C/4), (C/8, C/4, C/2, C))``.
    """
    if embed_dim in DPT_WIDTHS:
        return DPT_WIDTHS[embed_dim]
    return max(8, embed_dim // 4), tuple(max(1, embed_dim // d) for d in (8, 4, 2, 1))


def dpt_head_config(embed_dim: int, patch_size: int, protocol_head: dict) -> dict:
    """The ``decode_head`` config of the DPT network.

    Args:
        embed_dim: Channels of the ViT's feature maps.
        patch_size: The ViT's patch size.
        protocol_head: The protocol's decode head, whose classes, ``align_corners`` and
            labeled loss (e.g. OHEM on Cityscapes) are kept.

    Returns:
        A :class:`TimmDPTHead` config: no normalisation layers and no dropout before the
        classifier, as UniMatch V2's DPT (``use_bn=False``).
    """
    channels, post_process = dpt_widths(embed_dim)
    return dict(type="TimmDPTHead", in_channels=[embed_dim] * 4, in_index=(0, 1, 2, 3),
                input_transform="multiple_select", channels=channels, embed_dims=embed_dim,
                post_process_channels=list(post_process), readout_type="ignore",
                patch_size=patch_size, norm_cfg=None, dropout_ratio=0.0,
                num_classes=protocol_head["num_classes"],
                align_corners=protocol_head.get("align_corners", True),
                loss_decode=protocol_head["loss_decode"])


@MODELS.register_module()
class TimmDPTHead(DPTHead):
    """MMSeg's ``DPTHead`` reading the plain ``[B, C, h, w]`` maps of a timm ViT.

    Args:
        readout_type: Must be ``'ignore'``: timm's maps carry no class token.
        **kwargs: ``DPTHead`` / ``BaseDecodeHead`` arguments (see :func:`dpt_head_config`).
    """

    def __init__(self, readout_type: str = "ignore", **kwargs) -> None:
        if readout_type != "ignore":
            raise ValueError(f"TimmDPTHead reads no class token; readout_type must be "
                             f"'ignore', got '{readout_type}'")
        super().__init__(readout_type=readout_type, **kwargs)

    def forward(self, inputs: list[Tensor]) -> Tensor:
        """Logits of the four ViT feature maps ``inputs``, at stride about ``p/8``."""
        return super().forward([[feature, None] for feature in inputs])


__all__ = ["TimmDPTHead", "dpt_head_config", "dpt_widths"]
