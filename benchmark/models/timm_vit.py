"""A timm Vision Transformer as the encoder of the DPT network (``--backbone timm:<vit>``).

Any plain timm ViT (``vision_transformer`` module: DINOv2 names such as
``vit_base_patch14_dinov2``, ``vit_*``, timm's tiny ``test_vit``) is created with
``dynamic_img_size=True`` (position embeddings interpolated to the crop) and read with
timm's own ``forward_intermediates``: the normalised patch tokens of four blocks as
``[B, C, H/p, W/p]`` maps, as UniMatch V2's DPT reads DINOv2's ``get_intermediate_layers``
(final norm applied, class token dropped). The parameter names are timm's with a
``model.`` prefix, like :class:`~benchmark.models.backbones.TimmBackbone`.
"""

from __future__ import annotations

import torch.nn.functional as F
from mmengine.model import BaseModule
from mmseg.registry import MODELS
from torch import Tensor

# timm modules whose models are plain ViTs with ``forward_intermediates``
VIT_MODULES = ("vision_transformer", "deit")
# UniMatch V2's blocks per depth: ViT-S/B (12 blocks), ViT-L (24), ViT-g (40)
DPT_LAYERS = {12: (2, 5, 8, 11), 24: (4, 11, 17, 23), 40: (9, 19, 29, 39)}


def is_vision_transformer(model_name: str) -> bool:
    """True if ``model_name`` is a timm model of a plain-ViT module (:data:`VIT_MODULES`)."""
    from timm.models import get_arch_name, is_model, is_model_in_modules

    arch = get_arch_name(model_name)
    return is_model(arch) and is_model_in_modules(arch, VIT_MODULES)


def dpt_layer_indices(depth: int) -> tuple[int, int, int, int]:
    """The four blocks (0-based) whose outputs the DPT head reads.

    UniMatch V2's choice for its depths (:data:`DPT_LAYERS`), else the last block of each
    quarter; a ViT of fewer than four blocks repeats blocks.
    """
    if depth in DPT_LAYERS:
        return DPT_LAYERS[depth]
    return tuple(max(round(depth * quarter / 4) - 1, 0) for quarter in (1, 2, 3, 4))


def nearest_patch_multiple(size: int, patch_size: int) -> int:
    """``size`` rounded to the nearest multiple of ``patch_size`` (at least one patch)."""
    return max(int(size / patch_size + 0.5), 1) * patch_size


@MODELS.register_module()
class TimmViTBackbone(BaseModule):
    """A timm ViT returning the four intermediate feature maps a DPT head reads.

    Training crops must be multiples of the patch size (checked when a run's config is
    composed). Other inputs, such as whole validation images, are resized bilinearly to
    the nearest multiples first, as UniMatch V2's evaluation does; the segmentor resizes
    the logits back to the input size.

    Args:
        model_name: A timm ViT name (``timm.list_models('vit_*')``).
        layer_indices: Blocks read by the head; None picks :func:`dpt_layer_indices`.
        model_kwargs: Extra ``timm.create_model`` arguments (e.g. ``depth``, ``embed_dim``
            for a smaller network).
        init_cfg: MMEngine initialisation (``dict(type='Pretrained', checkpoint=...)``).

    Attributes:
        patch_size: Side of a patch in pixels.
        embed_dim: Channels of every returned feature map.
        layer_indices: The blocks returned, in order.
    """

    def __init__(self, model_name: str, layer_indices: tuple[int, ...] | None = None,
                 model_kwargs: dict | None = None, init_cfg: dict | None = None) -> None:
        import timm

        super().__init__(init_cfg=init_cfg)
        self.model = timm.create_model(model_name, pretrained=False, num_classes=0,
                                       dynamic_img_size=True, **(model_kwargs or {}))
        self.patch_size = int(self.model.patch_embed.patch_size[0])
        self.embed_dim = int(self.model.embed_dim)
        depth = len(self.model.blocks)
        self.layer_indices = tuple(layer_indices or dpt_layer_indices(depth))
        if not all(0 <= i < depth for i in self.layer_indices):
            raise ValueError(f"layer_indices {self.layer_indices} outside the {depth} blocks "
                             f"of {model_name}")
        self._distinct_layers = sorted(set(self.layer_indices))

    def forward(self, x: Tensor) -> tuple[Tensor, ...]:
        """Return the normalised patch-token maps ``[B, C, H/p, W/p]`` of the chosen blocks."""
        size = tuple(nearest_patch_multiple(s, self.patch_size) for s in x.shape[-2:])
        if size != tuple(x.shape[-2:]):
            x = F.interpolate(x, size=size, mode="bilinear", align_corners=True)
        maps = self.model.forward_intermediates(x, indices=self._distinct_layers, norm=True,
                                                output_fmt="NCHW", intermediates_only=True)
        by_layer = dict(zip(self._distinct_layers, maps))
        return tuple(by_layer[i] for i in self.layer_indices)


__all__ = ["TimmViTBackbone", "dpt_layer_indices", "is_vision_transformer",
           "nearest_patch_multiple"]
