"""Check a backbone checkpoint against the backbone before training, adapting its names.

MMEngine's ``Pretrained`` initialiser loads with ``strict=False`` and only logs missing
or unexpected keys, so a wrong file would train silently from partly random weights.
Before a run starts, the checkpoint's keys are compared with the backbone's; a mismatch
is one error line with the counts. Shapes are compared with the keys: MMEngine also skips
a tensor of another shape with only a log line, so one wrong tensor would leave its layer
random while the record says the checkpoint was loaded. Three public namings are adapted
(a converted copy is cached and loaded instead): UniMatch's deep-stem ResNets
(``conv1.0`` ... ``bn1``, which MMSeg's ``ResNetV1c`` calls ``stem.0`` ... ``stem.7``),
timm's own names (the :class:`~benchmark.models.backbones.TimmBackbone` and
:class:`~benchmark.models.timm_vit.TimmViTBackbone` keep them under ``model.``) and the
official DINOv2 release files (facebookresearch/dinov2, also as the ``backbone.`` of a
UniMatch V2 checkpoint), whose names are timm's except for ``register_tokens``
(timm: ``reg_token``) and the iBOT ``mask_token`` that segmentation never uses (dropped).
"""

from __future__ import annotations

import functools
import json
import os
import re
from pathlib import Path

import torch

from benchmark.errors import BenchmarkError

# Classifier weights of an ImageNet checkpoint are expected extras, not a mismatch.
CLASSIFIER = re.compile(r"^(fc|head|classifier|last_linear)\.")
UNIMATCH_STEM = {"conv1.0.": "stem.0.", "conv1.1.": "stem.1.", "conv1.3.": "stem.3.",
                 "conv1.4.": "stem.4.", "conv1.6.": "stem.6.", "bn1.": "stem.7."}


def read_state_dict(path: Path) -> dict[str, torch.Tensor]:
    """The weights in a checkpoint file (plain, or under ``state_dict`` / ``model``).

    Raises:
        BenchmarkError: If the file is not a PyTorch checkpoint of tensors.
    """
    try:
        data = torch.load(path, map_location="cpu", weights_only=True)
    except Exception as err:  # noqa: BLE001 - any unreadable file is the same user error
        raise BenchmarkError(f"cannot read checkpoint {path} ({type(err).__name__}); pass "
                             "a PyTorch state_dict file") from err
    for key in ("state_dict", "model"):
        if isinstance(data, dict) and isinstance(data.get(key), dict):
            data = data[key]
    if not isinstance(data, dict):
        raise BenchmarkError(f"checkpoint {path} holds no state_dict; pass a PyTorch "
                             "state_dict file")
    return {k.removeprefix("module."): v for k, v in data.items()
            if isinstance(v, torch.Tensor)}


def _official_dinov2(key: str) -> str | None:
    """A facebookresearch/dinov2 name as the ViT backbone's; None for ``mask_token``."""
    key = key.removeprefix("backbone.")
    if key == "mask_token":
        return None
    return "model." + ("reg_token" if key == "register_tokens" else key)


def _unimatch_resnet(key: str) -> str:
    for old, new in UNIMATCH_STEM.items():
        if key.startswith(old):
            return new + key[len(old):]
    return key


# Namings tried in order; the first with the most matching keys wins. A naming maps a key
# to the backbone's name, or to None for a tensor the backbone never has.
RENAMINGS = {
    "as is": lambda k: k,
    "UniMatch ResNet": _unimatch_resnet,
    "backbone.": lambda k: k.removeprefix("backbone."),
    "timm": lambda k: f"model.{k}",
    "official DINOv2": _official_dinov2,
}


def match_keys(state: dict, expected: set[str]) -> tuple[str, dict, list[str], list[str]]:
    """Pick the naming that fits ``expected`` best and report what still does not fit.

    Args:
        state: Checkpoint weights.
        expected: The backbone's ``state_dict`` keys (``num_batches_tracked`` excluded).

    Returns:
        ``(naming, renamed state, missing keys, unexpected keys)``; classifier weights
        of an ImageNet checkpoint (or a segmentation checkpoint's ``head.``) and the
        tensors a naming drops are left out, not reported.
    """
    best = None
    for naming, rename in RENAMINGS.items():
        renamed = {new: v for k, v in state.items()
                   if not CLASSIFIER.match(k) and (new := rename(k)) is not None}
        hits = len(expected & set(renamed))
        if best is None or hits > best[0]:
            best = (hits, naming, renamed)
    _, naming, renamed = best
    missing = sorted(expected - set(renamed))
    unexpected = sorted(k for k in set(renamed) - expected
                        if not k.endswith("num_batches_tracked"))
    return naming, renamed, missing, unexpected


@functools.lru_cache(maxsize=8)
def _backbone_shapes(backbone_json: str) -> tuple[tuple[str, tuple[int, ...]], ...]:
    import mmseg.models  # noqa: F401  (registers ResNetV1c)
    from mmseg.registry import MODELS

    import benchmark.models  # noqa: F401  (registers TimmBackbone)

    config = json.loads(backbone_json)
    config.pop("init_cfg", None)
    if isinstance(config.get("norm_cfg"), dict):
        config["norm_cfg"] = dict(config["norm_cfg"], type="BN")  # names are the same
    network = MODELS.build(config)
    return tuple((k, tuple(v.shape)) for k, v in network.state_dict().items()
                 if not k.endswith("num_batches_tracked"))


def shape_mismatches(state: dict[str, torch.Tensor],
                     shapes: dict[str, tuple[int, ...]]) -> list[str]:
    """The shared keys (in the backbone's order) whose tensors have another shape.

    Args:
        state: Checkpoint weights, already renamed to the backbone's keys.
        shapes: The backbone's tensor shapes by key.

    Returns:
        One ``"<key> is [a, b] in the checkpoint, [c, d] in the backbone"`` per key;
        empty when every shared key has the backbone's shape.
    """
    return [f"{key} is {list(state[key].shape)} in the checkpoint, {list(shape)} in the "
            "backbone" for key, shape in shapes.items()
            if key in state and tuple(state[key].shape) != shape]


def checked_checkpoint(path: Path, sha256: str, backbone: dict, weights: str) -> Path:
    """Return the file the backbone should load: ``path``, or an adapted copy of it.

    Args:
        path: The checkpoint given by the user or found at the protocol's location.
        sha256: Its SHA-256 (names the adapted copy).
        backbone: The backbone config the weights are for.
        weights: What the file should be (for the error message).

    Raises:
        BenchmarkError: One line with the counts of missing and unexpected keys, or
            naming the first tensor whose shape differs from the backbone's.
    """
    shapes = dict(_backbone_shapes(json.dumps(backbone, sort_keys=True, default=list)))
    naming, renamed, missing, unexpected = match_keys(read_state_dict(path), set(shapes))
    if missing or unexpected:
        first = "; ".join(f"first {kind}: {keys[0]}" for kind, keys in
                          (("missing", missing), ("unexpected", unexpected)) if keys)
        raise BenchmarkError(
            f"checkpoint {path} does not fit backbone {backbone.get('type')}: "
            f"{len(missing)} missing and {len(unexpected)} unexpected keys ({first}); "
            f"pass the {weights}")
    mismatched = shape_mismatches(renamed, shapes)
    if mismatched:
        raise BenchmarkError(
            f"checkpoint {path} does not fit backbone {backbone.get('type')}: "
            f"{len(mismatched)} tensor{'s' if len(mismatched) > 1 else ''} of another shape "
            f"(first: {mismatched[0]}); "
            f"pass the {weights}")
    if naming == "as is":
        return path
    folder = _adapted_folder()
    target = folder / f"{sha256[:16]}-{re.sub(r'[^a-z]+', '_', naming.lower())}.pth"
    if not target.is_file():
        folder.mkdir(parents=True, exist_ok=True)
        tmp = target.with_suffix(f".{os.getpid()}.tmp")
        torch.save({"state_dict": renamed, "meta": {"source": str(path), "sha256": sha256,
                                                    "naming": naming}}, tmp)
        os.replace(tmp, target)
    return target


def _adapted_folder() -> Path:
    """``adapted-checkpoints/`` in the suite's data cache (``SEMISEG_DATA``)."""
    base = os.environ.get("SEMISEG_DATA")
    parent = Path(base) if base else Path.home() / ".cache" / "semiseg-bench" / "data"
    return parent.expanduser() / "adapted-checkpoints"
