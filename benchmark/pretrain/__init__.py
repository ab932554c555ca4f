"""The built-in protocol's pretrained backbone (ImageNet's role on generated data).

It ships with the package (``assets/``, :mod:`benchmark.pretrain.asset`); a recipe other
than the shipped one is built once per machine and cached.

Typical use::

    from benchmark.pretrain import builtin_backbone

    backbone = builtin_backbone(get_protocol("synthetic"))  # the shipped file
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
