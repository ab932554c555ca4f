"""How the built-in backbone is pretrained: the recipe and its separate data set.

Real protocols start from ImageNet weights. The built-in protocol plays that role with a
segmentation pretraining on a separate generated data set whose classes are the
(shape, texture) pairs the benchmark does *not* use: primitives (shapes, textures,
colours, clutter) are shared, as ImageNet shares dogs with VOC, but no benchmark class
is a pretraining class and no image is shared (a different generator seed).
"""

from __future__ import annotations

import dataclasses
import hashlib
import json
import os
from dataclasses import dataclass
from itertools import product

from benchmark.errors import BenchmarkError
from benchmark.synthetic.spec import SHAPE_SIDES, TEXTURES, SyntheticSpec

# Offset between the benchmark's generator seed and the pretraining set's.
PRETRAIN_SEED_OFFSET = 7919


@dataclass(frozen=True)
class PretrainRecipe:
    """Every knob of the backbone pretraining; the checkpoint is a function of it.

    Attributes:
        num_images: Images of the pretraining set (all labeled).
        iterations: Training iterations.
        batch_size: Images per iteration.
        lr: SGD learning rate (poly decay, momentum 0.9, weight decay 1e-4, head x10).
        seed: Seed of the training run (initialisation, sampling, augmentation).
    """

    num_images: int = 2000
    iterations: int = 2000
    batch_size: int = 8
    lr: float = 0.02
    seed: int = 0

    def __post_init__(self) -> None:
        for name in ("num_images", "iterations", "batch_size"):
            if getattr(self, name) < 1:
                raise BenchmarkError(f"pretraining recipe: {name} must be >= 1")
        if self.lr <= 0:
            raise BenchmarkError("pretraining recipe: lr must be positive")

    def to_dict(self) -> dict:
        return dataclasses.asdict(self)


def recipe_from_env() -> PretrainRecipe:
    """The default recipe; ``SEMISEG_PRETRAIN`` (JSON) overrides fields (tests, probes).

    Raises:
        BenchmarkError: If the variable is not a JSON object of recipe fields.
    """
    text = os.environ.get("SEMISEG_PRETRAIN", "").strip()
    if not text:
        return PretrainRecipe()
    try:
        values = json.loads(text)
        if not isinstance(values, dict):
            raise TypeError("not a JSON object")
        return PretrainRecipe(**values)
    except (ValueError, TypeError) as err:
        raise BenchmarkError(f"invalid SEMISEG_PRETRAIN={text!r}: {err}; pass a JSON object "
                             f"of {', '.join(f.name for f in dataclasses.fields(PretrainRecipe))}"
                             ) from err


def pretraining_classes(target: SyntheticSpec) -> tuple[tuple[str, str], ...]:
    """Every (shape, texture) pair that is not a class of the benchmark set, in fixed order."""
    used = set(target.object_classes)
    return tuple(pair for pair in product(sorted(SHAPE_SIDES), TEXTURES) if pair not in used)


def pretraining_spec(target: SyntheticSpec, recipe: PretrainRecipe) -> SyntheticSpec:
    """The pretraining data set: same image statistics, other classes, other seed.

    Classes are balanced (ImageNet-like); there is no validation part.
    """
    return dataclasses.replace(
        target,
        object_classes=pretraining_classes(target),
        class_frequency_ratio=1.0,
        num_train=recipe.num_images,
        num_val=0,
        seed=target.seed + PRETRAIN_SEED_OFFSET,
    )


def fingerprint(recipe: PretrainRecipe, data: SyntheticSpec, runner_cfg: dict) -> str:
    """Hex SHA-256 naming a checkpoint: recipe, pretraining data and training config."""
    payload = {"recipe": recipe.to_dict(), "data": data.fingerprint(), "config": runner_cfg}
    text = json.dumps(payload, sort_keys=True, separators=(",", ":"), default=str)
    return hashlib.sha256(text.encode("utf-8")).hexdigest()
