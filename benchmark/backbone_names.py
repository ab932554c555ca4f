"""Names of the backbone choices and networks, importable without torch (reports use them).

:mod:`benchmark.models.backbones` builds the presets these names select and keeps its
own copy of the constants (a test keeps the two equal) while the shipped records are
regenerated: a change under ``benchmark/models`` counts as a change of the training code,
which ``reproduce`` refuses for records of older commits.
"""

from __future__ import annotations

RESNET_DEPTHS = {"r18": 18, "r50": 50, "r101": 101}
TIMM_PREFIX = "timm:"
DEEPLAB_NETWORK = "deeplabv3plus"
DPT_NETWORK = "vit_dpt"
# size word of timm's DINOv2 names -> letter of the official release files
DINOV2_SIZES = {"small": "s", "base": "b", "large": "l", "giant": "g"}


def dinov2_size(model_name: str) -> str | None:
    """The size letter of a timm DINOv2 model (``vit_base_patch14_dinov2`` -> ``b``), else None."""
    parts = model_name.split(".")[0].split("_")
    if parts[-1] != "dinov2" or len(parts) < 3 or parts[1] not in DINOV2_SIZES:
        return None
    return DINOV2_SIZES[parts[1]]


def resnet_depth(backbone: str) -> int | None:
    """The depth of a ResNet backbone label (``r101`` or ``ResNetV1c-101``), else None."""
    if backbone in RESNET_DEPTHS:
        return RESNET_DEPTHS[backbone]
    kind, _, depth = backbone.partition("-")
    return int(depth) if kind == "ResNetV1c" and depth.isdigit() else None
