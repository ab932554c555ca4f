"""UniMatch's DeepLabv3+ head (CPS's TorchSemiSeg head has the same design) as an MMSeg head.

Architecture read from LiheYoung/UniMatch ``model/semseg/deeplabv3plus.py`` (commit
0324f3dd4a22128105a5eb135d2586c0bb3cc647), plain convolutions throughout:

* ASPP on the last feature map: a 1x1 branch, three 3x3 branches with dilations
  6/12/18 and an image-pooling branch (global average, 1x1), each conv-BN-ReLU with
  256 channels, concatenated and projected by a 1x1 conv-BN-ReLU to 256 channels;
* the layer1 features (256 channels) reduced by a 1x1 conv-BN-ReLU to 48 channels;
* the ASPP output upsampled bilinearly (``align_corners=True``) to stride 4,
  concatenated with them and fused by two 3x3 conv-BN-ReLU of 256 channels;
* a 1x1 classifier with bias. Convolutions have no bias and no dropout is used;
  initialisation is PyTorch's default (the official code does not re-initialise the head).

MMSeg has no such head: its ``DepthwiseSeparableASPPHead`` uses depthwise separable 3x3
convolutions in the ASPP and the fusion and a 3x3 ASPP projection (about half the
parameters). Submodules keep the official layout (``nn.Sequential`` of conv, norm, ReLU),
so an official checkpoint loads through :data:`OFFICIAL_HEAD_KEY_MAP`.
"""

from __future__ import annotations

import torch
from mmcv.cnn import build_norm_layer
from mmseg.models.decode_heads.decode_head import BaseDecodeHead
from mmseg.models.utils import resize
from mmseg.registry import MODELS
from torch import Tensor, nn

# official DeepLabV3Plus key prefix -> our decode head's (backbone.* is the backbone's)
OFFICIAL_HEAD_KEY_MAP = {"head.": "aspp.", "reduce.": "reduce.", "fuse.": "fuse.",
                         "classifier.": "conv_seg."}
# the DeepLabv3+ heads a real protocol selects by model.segmentor.decode_head.type
DEEPLABV3PLUS_HEADS = {
    "OfficialDeepLabV3PlusHead": "the official code's plain-conv head, the default",
    "DepthwiseSeparableASPPHead": "MMSeg's depthwise-separable head",
}


def conv_norm_relu(in_channels: int, out_channels: int, kernel_size: int, norm_cfg: dict,
                   dilation: int = 1) -> nn.Sequential:
    """``Sequential(conv without bias, norm, ReLU)`` with 'same' padding."""
    padding = dilation * (kernel_size // 2)
    return nn.Sequential(
        nn.Conv2d(in_channels, out_channels, kernel_size, padding=padding, dilation=dilation,
                  bias=False),
        build_norm_layer(norm_cfg, out_channels)[1],
        nn.ReLU(inplace=True))


class ImagePooling(nn.Module):
    """ASPP's image-level branch: global average, 1x1 conv-BN-ReLU, broadcast back."""

    def __init__(self, in_channels: int, out_channels: int, norm_cfg: dict) -> None:
        super().__init__()
        self.gap = nn.Sequential(nn.AdaptiveAvgPool2d(1),
                                 *conv_norm_relu(in_channels, out_channels, 1, norm_cfg))

    def forward(self, x: Tensor) -> Tensor:
        """``(N, out, H, W)``: the pooled features at every position of ``x``."""
        return resize(self.gap(x), size=x.shape[2:], mode="bilinear", align_corners=True)


class PlainASPP(nn.Module):
    """ASPP with plain convolutions: branches ``b0`` (1x1), ``b1-b3`` (dilated 3x3), ``b4``
    (image pooling) and a 1x1 ``project``.

    Args:
        in_channels: Channels of the input feature map.
        channels: Channels of every branch and of the output.
        rates: Dilations of the three 3x3 branches.
        norm_cfg: Normalisation layers (BN / SyncBN).
    """

    def __init__(self, in_channels: int, channels: int, rates: tuple[int, int, int],
                 norm_cfg: dict) -> None:
        super().__init__()
        self.b0 = conv_norm_relu(in_channels, channels, 1, norm_cfg)
        self.b1, self.b2, self.b3 = (conv_norm_relu(in_channels, channels, 3, norm_cfg, rate)
                                     for rate in rates)
        self.b4 = ImagePooling(in_channels, channels, norm_cfg)
        self.project = conv_norm_relu(5 * channels, channels, 1, norm_cfg)

    def forward(self, x: Tensor) -> Tensor:
        """Concatenate the five branches and project them."""
        branches = (self.b0, self.b1, self.b2, self.b3, self.b4)
        return self.project(torch.cat([branch(x) for branch in branches], dim=1))


@MODELS.register_module()
class OfficialDeepLabV3PlusHead(BaseDecodeHead):
    """DeepLabv3+ head of the official semi-supervised segmentation code (module docstring).

    Takes the constructor arguments of MMSeg's ``DepthwiseSeparableASPPHead``, so a config
    switches between the two by its ``type`` alone.

    Args:
        dilations: ASPP dilations in MMSeg's convention: 1 for the 1x1 branch, then the
            three rates of the 3x3 branches.
        c1_in_channels: Channels of the stride-4 features (``inputs[0]``).
        c1_channels: Channels of their 1x1 reduction (48).
        init_cfg: MMEngine initialisation; None keeps PyTorch's default, as the official.
        **kwargs: :class:`BaseDecodeHead` arguments (``in_channels``, ``channels``,
            ``num_classes``, ``norm_cfg``, ``align_corners``, ``loss_decode``, ...).
    """

    def __init__(self, dilations: tuple[int, ...] = (1, 6, 12, 18), c1_in_channels: int = 256,
                 c1_channels: int = 48, init_cfg: dict | None = None, **kwargs) -> None:
        super().__init__(init_cfg=init_cfg, **kwargs)
        if len(dilations) != 4 or dilations[0] != 1:
            raise ValueError(f"dilations must be (1, r1, r2, r3) (the 1x1 branch first), "
                             f"got {tuple(dilations)}")
        norm_cfg = self.norm_cfg or dict(type="BN")
        self.aspp = PlainASPP(self.in_channels, self.channels, tuple(dilations[1:]), norm_cfg)
        self.reduce = conv_norm_relu(c1_in_channels, c1_channels, 1, norm_cfg)
        self.fuse = nn.Sequential(
            *conv_norm_relu(self.channels + c1_channels, self.channels, 3, norm_cfg),
            *conv_norm_relu(self.channels, self.channels, 3, norm_cfg))

    def forward(self, inputs: list[Tensor]) -> Tensor:
        """Logits at the resolution of ``inputs[0]`` (stride 4)."""
        low_level = inputs[0]
        context = self.aspp(self._transform_inputs(inputs))
        context = resize(context, size=low_level.shape[2:], mode="bilinear",
                         align_corners=self.align_corners)
        fused = self.fuse(torch.cat([self.reduce(low_level), context], dim=1))
        return self.cls_seg(fused)


def official_head_state_dict(state_dict: dict[str, Tensor]) -> dict[str, Tensor]:
    """The head entries of an official ``DeepLabV3Plus`` state dict, renamed for our head.

    Args:
        state_dict: Official keys (``head.b0.0.weight``, ``reduce.0.weight``, ...), with
            or without DDP's ``module.`` prefix; ``backbone.*`` entries are left out.

    Returns:
        The same tensors under :class:`OfficialDeepLabV3PlusHead` names
        (``aspp.b0.0.weight``, ``conv_seg.weight``, ...).

    Raises:
        KeyError: For a key that is neither a head nor a backbone entry.
    """
    renamed = {}
    for key, value in state_dict.items():
        key = key.removeprefix("module.")
        if key.startswith("backbone."):
            continue
        prefix = next((p for p in OFFICIAL_HEAD_KEY_MAP if key.startswith(p)), None)
        if prefix is None:
            raise KeyError(f"'{key}' is not a key of the official DeepLabV3Plus")
        renamed[OFFICIAL_HEAD_KEY_MAP[prefix] + key[len(prefix):]] = value
    return renamed


def unknown_head_problem(segmentor: dict) -> str | None:
    """The error line for a ``decode_head.type`` that no registry knows, else None.

    Args:
        segmentor: ``model.segmentor`` of a config.
    """
    head_type = (segmentor.get("decode_head") or {}).get("type")
    if head_type is None or MODELS.get(head_type) is not None:
        return None
    choices = "; ".join(f"{name} ({what})" for name, what in DEEPLABV3PLUS_HEADS.items())
    return (f"unknown decode head model.segmentor.decode_head.type='{head_type}'; the "
            f"DeepLabv3+ heads are: {choices} (docs/protocols.md)")
