"""Backbone choice per run (``--backbone``): ResNetV1c-18/50/101 or any timm model.

Every method of a comparison uses the same backbone; the choice is written into the
config (so it enters the config hash) and the run record. A preset gives the backbone
config, the network it is used in, the channels the head reads and the checkpoint a
protocol expects by default. CNNs (ResNets, timm CNNs) feed the protocol's DeepLabv3+
head (low-level ``c1`` at stride 4 and ``c4`` at output stride 16); a timm Vision
Transformer (``timm:vit_base_patch14_dinov2``, ...) selects the DPT network instead
(:class:`~benchmark.models.timm_vit.TimmViTBackbone` +
:class:`~benchmark.models.timm_dpt_head.TimmDPTHead`, UniMatch V2's network).
"""

from __future__ import annotations

import functools
from dataclasses import dataclass, field

from mmengine.model import BaseModule
from mmseg.registry import MODELS
from torch import Tensor

from benchmark.errors import BenchmarkError

RESNET_DEPTHS = {"r18": 18, "r50": 50, "r101": 101}
TIMM_PREFIX = "timm:"
DEEPLAB_NETWORK = "deeplabv3plus"
DPT_NETWORK = "vit_dpt"
# size word of timm's DINOv2 names -> letter of the official release files
DINOV2_SIZES = {"small": "s", "base": "b", "large": "l", "giant": "g"}


@dataclass(frozen=True)
class BackbonePreset:
    """A backbone choice and what the rest of the network needs to know about it.

    Attributes:
        name: ``--backbone`` value (``r50``, ``r101``, ``timm:<model>``).
        backbone: Backbone config (without ``norm_cfg``, which the protocol sets).
        c1_channels: Channels of the low-level (stride 4) feature (DPT: the ViT width).
        c4_channels: Channels of the last feature (output stride 16; DPT: the ViT width).
        in_index: Index of that last feature in the backbone's outputs.
        weights_file: File name of its pretrained checkpoint in the protocol's folder.
        weights: What that checkpoint is, for error messages.
        network: ``'deeplabv3plus'`` (the protocol's head) or ``'vit_dpt'`` (DPT head).
        patch_size: The ViT's patch size (crops must be multiples of it); None for CNNs.
    """

    name: str
    backbone: dict = field(hash=False)
    c1_channels: int
    c4_channels: int
    in_index: int
    weights_file: str
    weights: str
    network: str = DEEPLAB_NETWORK
    patch_size: int | None = None


def backbone_preset(name: str) -> BackbonePreset:
    """Return the preset of ``--backbone name``.

    Raises:
        BenchmarkError: If the name is neither a ResNet preset nor a timm model.
    """
    if name in RESNET_DEPTHS:
        depth = RESNET_DEPTHS[name]
        deep = depth >= 50
        expansion = 4 if deep else 1
        return BackbonePreset(
            name=name,
            # 50/101: UniMatch's deep stem 3->64->64->128; 18: MMSeg's v1c stem 3->32->32->64
            backbone=dict(type="ResNetV1c", depth=depth, stem_channels=128 if deep else 64,
                          base_channels=64, num_stages=4, out_indices=(0, 1, 2, 3),
                          strides=(1, 2, 2, 1), dilations=(1, 1, 1, 2), norm_eval=False,
                          style="pytorch", contract_dilation=True),
            c1_channels=64 * expansion,
            c4_channels=512 * expansion,
            in_index=3,
            weights_file=f"resnet{depth}.pth" if deep else "resnet18_v1c.pth",
            weights=(f"ResNet-{depth} v1c ImageNet weights (resnet{depth}.pth, as UniMatch "
                     "and SOP use)" if deep else "ResNet-18 v1c ImageNet weights"),
        )
    if name.startswith(TIMM_PREFIX):
        model_name = name[len(TIMM_PREFIX):]
        from benchmark.models.timm_vit import is_vision_transformer

        if is_vision_transformer(model_name):
            return vit_preset(model_name)
        probe = TimmBackbone(model_name)
        return BackbonePreset(
            name=name,
            backbone=dict(type="TimmBackbone", model_name=model_name),
            c1_channels=probe.channels[0],
            c4_channels=probe.channels[1],
            in_index=1,
            weights_file=f"timm_{model_name.replace('/', '_')}.pth",
            weights=f"ImageNet weights of timm model '{model_name}' (its state_dict)",
        )
    raise BenchmarkError(f"unknown backbone '{name}'; use one of {', '.join(RESNET_DEPTHS)} "
                         f"or {TIMM_PREFIX}<model> (a name from timm.list_models())")


def dinov2_release_file(model_name: str) -> str | None:
    """The official DINOv2 file of a timm DINOv2 model, None for other models.

    ``vit_base_patch14_dinov2`` -> ``dinov2_vitb14_pretrain.pth``,
    ``vit_small_patch14_reg4_dinov2`` -> ``dinov2_vits14_reg4_pretrain.pth``.
    """
    parts = model_name.split(".")[0].split("_")
    if parts[-1] != "dinov2" or len(parts) < 3 or parts[1] not in DINOV2_SIZES:
        return None
    registers = "_reg4" if "reg4" in parts else ""
    return f"dinov2_vit{DINOV2_SIZES[parts[1]]}14{registers}_pretrain.pth"


@functools.lru_cache(maxsize=8)
def vit_preset(model_name: str) -> BackbonePreset:
    """The preset of a timm ViT: the DPT network, its patch size and pretrained file.

    DINOv2 models expect the official release file (``dinov2_vitb14_pretrain.pth``, ...);
    other ViTs a ``timm_<name>.pth`` state dict. Both namings load (see
    :mod:`benchmark.pretrain.checkpoint_keys`).
    """
    import torch

    from benchmark.models.timm_vit import TimmViTBackbone

    with torch.device("meta"):  # sizes only: no memory, no initialisation cost
        probe = TimmViTBackbone(model_name)
    weights_file = dinov2_release_file(model_name)
    if weights_file is not None:
        weights = (f"DINOv2 weights ({weights_file} of facebookresearch/dinov2, as UniMatch "
                   "V2 uses; a timm state_dict of the model also loads)")
    else:
        weights_file = f"timm_{model_name.replace('/', '_')}.pth"
        weights = f"pretrained weights of timm model '{model_name}' (its state_dict)"
    return BackbonePreset(
        name=f"{TIMM_PREFIX}{model_name}",
        backbone=dict(type="TimmViTBackbone", model_name=model_name),
        c1_channels=probe.embed_dim, c4_channels=probe.embed_dim, in_index=3,
        weights_file=weights_file, weights=weights, network=DPT_NETWORK,
        patch_size=probe.patch_size)


def apply_backbone(segmentor: dict, preset: BackbonePreset) -> None:
    """Put ``preset`` into a segmentor config, keeping its norm and wiring the head.

    A ViT preset replaces the decode head by the DPT head (keeping the protocol's
    classes and labeled loss).

    Args:
        segmentor: ``model.segmentor`` of a config (a DeepLabv3+ ``EncoderDecoder``).
        preset: The chosen backbone.
    """
    if preset.network == DPT_NETWORK:
        from benchmark.models.timm_dpt_head import dpt_head_config

        segmentor["backbone"] = dict(preset.backbone)
        segmentor["decode_head"] = dpt_head_config(preset.c4_channels, preset.patch_size,
                                                   segmentor["decode_head"])
        return
    norm_cfg = segmentor["backbone"].get("norm_cfg")
    backbone = dict(preset.backbone)
    if norm_cfg is not None and backbone["type"] == "ResNetV1c":
        backbone["norm_cfg"] = norm_cfg
    segmentor["backbone"] = backbone
    head = segmentor["decode_head"]
    head["in_channels"] = preset.c4_channels
    head["c1_in_channels"] = preset.c1_channels
    head["in_index"] = preset.in_index


@MODELS.register_module()
class TimmBackbone(BaseModule):
    """A timm model as a DeepLabv3+ backbone: its stride-4 and last features at stride 16.

    The model is created without a classifier and with ``output_stride=16`` (dilated last
    stage, as for ResNets). Its parameter names are timm's own with a ``model.`` prefix;
    checkpoints in timm's naming are adapted when they are loaded.

    Args:
        model_name: A name from ``timm.list_models()``.
        init_cfg: MMEngine initialisation (``dict(type='Pretrained', checkpoint=...)``).
    """

    def __init__(self, model_name: str, init_cfg: dict | None = None) -> None:
        import timm

        super().__init__(init_cfg=init_cfg)
        try:
            self.model = timm.create_model(model_name, pretrained=False, num_classes=0,
                                           output_stride=16)
        except RuntimeError as err:
            raise BenchmarkError(f"unknown timm model '{model_name}' ({err}); pick a name "
                                 "from timm.list_models()") from err
        except TypeError as err:
            raise BenchmarkError(f"timm model '{model_name}' cannot run at output stride 16 "
                                 f"({err}); choose a CNN such as timm:resnet50d or a plain "
                                 "ViT such as timm:vit_base_patch14_dinov2") from err
        info = self.model.feature_info
        low = next((i for i, f in enumerate(info) if f["reduction"] >= 4), 0)
        self.indices = [low, len(info) - 1]
        self.channels = (info[low]["num_chs"], info[-1]["num_chs"])

    def forward(self, x: Tensor) -> tuple[Tensor, Tensor]:
        """Return ``(c1, c4)``: the stride-4 and the last feature map."""
        features = self.model.forward_intermediates(x, indices=self.indices,
                                                    intermediates_only=True)
        return tuple(features)


__all__ = ["BackbonePreset", "TimmBackbone", "apply_backbone", "backbone_preset", "vit_preset"]
