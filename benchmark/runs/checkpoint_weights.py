"""Where a checkpoint's weights are and whether they fit a network (``evaluate``'s input side).

A checkpoint is a run's work dir (``<protocol>__<split>__<method>__seed<k>__<hash>``:
its final checkpoint and the config the run dumped there) or a ``.pth`` file: a run
checkpoint (MMEngine's, the whole semi-supervised model), a plain segmentor state dict
(MMSeg ``EncoderDecoder`` keys) or an official UniMatch-layout ``DeepLabV3Plus`` state
dict, each optionally under ``state_dict``/``model`` and with DDP's ``module.`` prefix.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import torch

from benchmark.errors import BenchmarkError

CHECKPOINT_LINK = "last_checkpoint"


@dataclass(frozen=True)
class CheckpointSource:
    """Where the weights (and, for a work dir, the run's network) come from.

    Attributes:
        checkpoint: The ``.pth`` file.
        run_config: The config a run dumped into its work dir (None for a file).
        protocol: The run's protocol (work dir only).
        split: The run's split (work dir only).
        method: The run's method (work dir only).
        seed: The run's seed (work dir only).
    """

    checkpoint: Path
    run_config: Path | None = None
    protocol: str | None = None
    split: str | None = None
    method: str | None = None
    seed: int = 0


def locate_checkpoint(path: str | Path) -> CheckpointSource:
    """Resolve a work dir or a ``.pth`` path.

    Raises:
        BenchmarkError: If the path does not exist, or a folder is not a run's work dir
            with a checkpoint and its config.
    """
    path = Path(path).expanduser()
    if path.is_file():
        return CheckpointSource(path)
    if not path.is_dir():
        raise BenchmarkError(f"checkpoint {path} not found; pass a run's work dir "
                             "(work_dirs/<run>__<hash>) or a .pth file")
    parts = path.name.split("__")
    if len(parts) != 5 or not parts[3].startswith("seed") or not parts[3][4:].isdigit():
        raise BenchmarkError(f"{path} is not a run's work dir "
                             "(<protocol>__<split>__<method>__seed<k>__<hash>); pass one, "
                             "or a .pth file")
    configs = sorted(path.glob("*.py"), key=lambda p: p.stat().st_mtime)
    if not configs:
        raise BenchmarkError(f"run work dir {path} holds no dumped config (*.py); pass the "
                             "checkpoint file with --protocol and --method instead")
    return CheckpointSource(final_checkpoint(path), configs[-1], parts[0], parts[1], parts[2],
                            int(parts[3][4:]))


def final_checkpoint(work_dir: Path) -> Path:
    """The checkpoint ``last_checkpoint`` names (also if the folder moved), else the newest."""
    link = work_dir / CHECKPOINT_LINK
    if link.is_file():
        named = Path(link.read_text().strip())
        for candidate in (named, work_dir / named.name):
            if candidate.is_file():
                return candidate
    numbered = [(int(p.stem[5:]), p) for p in work_dir.glob("iter_*.pth") if p.stem[5:].isdigit()]
    if not numbered:
        raise BenchmarkError(f"run work dir {work_dir} holds no checkpoint (iter_*.pth)")
    return max(numbered)[1]


def read_weights(path: Path) -> dict[str, torch.Tensor]:
    """The tensors of a checkpoint (a run's, with MMEngine's meta data, or a plain file).

    Raises:
        BenchmarkError: If the file is not a PyTorch checkpoint of tensors.
    """
    from benchmark.engine.resume import CHECKPOINT_GLOBALS
    from benchmark.pretrain.checkpoint_keys import read_state_dict

    with torch.serialization.safe_globals(CHECKPOINT_GLOBALS):
        state = read_state_dict(path)
    if not state:
        raise BenchmarkError(f"checkpoint {path} holds no weights")
    return state


def network_weights(state: dict[str, torch.Tensor], prefix: str) -> dict[str, torch.Tensor]:
    """The evaluated network's weights: the ``prefix`` part of a run checkpoint, else all."""
    if any(key.startswith(prefix) for key in state):
        return {key[len(prefix):]: value for key, value in state.items()
                if key.startswith(prefix)}
    return state


def official_layout(state: dict[str, torch.Tensor]) -> dict[str, torch.Tensor] | None:
    """An official ``DeepLabV3Plus`` state dict (UniMatch's layout) under our segmentor's keys.

    ``backbone.conv1.*``/``backbone.bn1.*`` (the deep stem) become ``backbone.stem.*``,
    ``head.``/``reduce.``/``fuse.``/``classifier.`` the
    :class:`~benchmark.models.official_deeplabv3plus_head.OfficialDeepLabV3PlusHead`'s
    ``decode_head.*`` entries. None if ``state`` is not in that layout.
    """
    from benchmark.models.official_deeplabv3plus_head import official_head_state_dict
    from benchmark.pretrain.checkpoint_keys import UNIMATCH_STEM

    if not any(key.startswith("head.") for key in state):
        return None
    try:
        head = official_head_state_dict(state)
    except KeyError:
        return None
    renamed = {f"decode_head.{key}": value for key, value in head.items()}
    for key, value in state.items():
        if key.startswith("backbone."):
            name = key[len("backbone."):]
            old = next((o for o in UNIMATCH_STEM if name.startswith(o)), None)
            renamed["backbone." + (UNIMATCH_STEM[old] + name[len(old):] if old else name)] = value
    return renamed


def fit_problem(state: dict[str, torch.Tensor], expected: dict[str, torch.Size],
                what: str) -> str | None:
    """One line naming what does not fit (missing, unexpected, other shape), else None."""
    missing = [key for key in expected if key not in state]
    unexpected = [key for key in state if key not in expected]
    reshaped = [key for key in expected
                if key in state and tuple(state[key].shape) != tuple(expected[key])]
    if not (missing or unexpected or reshaped):
        return None
    details = [f"first missing: {missing[0]}" if missing else "",
               f"first unexpected: {unexpected[0]}" if unexpected else "",
               f"first with another shape: {reshaped[0]} ({list(state[reshaped[0]].shape)} "
               f"in the checkpoint, {list(expected[reshaped[0]])} in the network)"
               if reshaped else ""]
    return (f"{what}: {len(missing)} missing, {len(unexpected)} unexpected and "
            f"{len(reshaped)} differently shaped weights; "
            + "; ".join(d for d in details if d))
