"""The built-in protocol's pretrained backbone (ImageNet's role on generated data).

Typical use::

    from benchmark.pretrain import builtin_backbone

    backbone = builtin_backbone(get_protocol("synthetic"))  # built once per machine
    backbone.path, backbone.sha256
"""

from .backbone import (
    PretrainedBackbone,
    builtin_backbone,
    ensure_pretrained_backbone,
    pretrained_root,
    verify_checkpoint,
)
from .recipe import PretrainRecipe, pretraining_classes, pretraining_spec, recipe_from_env

__all__ = [
    "PretrainRecipe",
    "PretrainedBackbone",
    "builtin_backbone",
    "ensure_pretrained_backbone",
    "pretrained_root",
    "pretraining_classes",
    "pretraining_spec",
    "recipe_from_env",
    "verify_checkpoint",
]
