"""The built-in procedurally generated segmentation dataset (Pascal VOC layout).

Typical use::

    from benchmark.synthetic import SyntheticSpec, default_root, materialize

    spec = SyntheticSpec()
    root = materialize(default_root(spec), spec)  # generated once, then cached
"""

from .materialize import (
    default_root,
    image_id,
    image_rng,
    is_materialized,
    labeled_partitions,
    materialize,
)
from .scene import Scene, draw_scene
from .spec import GENERATOR_VERSION, IGNORE_INDEX, SyntheticSpec, voc_colormap

__all__ = [
    "GENERATOR_VERSION",
    "IGNORE_INDEX",
    "Scene",
    "SyntheticSpec",
    "default_root",
    "draw_scene",
    "image_id",
    "image_rng",
    "is_materialized",
    "labeled_partitions",
    "materialize",
    "voc_colormap",
]
