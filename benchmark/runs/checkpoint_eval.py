"""Evaluate a stored checkpoint on a protocol's validation set (``python -m benchmark evaluate``).

The evaluation is the one a run ends with: the config composed by
:func:`~benchmark.runs.config_builder.build_config` (validation set, pipeline, the
protocol's ``whole`` or ``slide`` mode, ``PerClassIoUMetric``) run by MMEngine's
``Runner.val`` (``ValLoop``). The checkpoint is either

* a run's work dir (``<protocol>__<split>__<method>__seed<k>__<hash>``): its final
  checkpoint (``last_checkpoint``, else the highest ``iter_N.pth``) and the network of the
  config the run dumped there (its method, backbone and ``test_cfg``), or
* a ``.pth`` file: a run checkpoint, a plain segmentor state dict (MMSeg
  ``EncoderDecoder`` keys) or an official UniMatch-layout ``DeepLabV3Plus`` state dict
  (for the official head; :func:`official_layout`), each optionally under
  ``state_dict``/``model`` and with DDP's ``module.`` prefix, evaluated in the network of
  ``--method`` on ``--protocol``.

The evaluated network's weights are checked against the checkpoint's (names and shapes)
before anything is evaluated; a mismatch is one error line with the counts.
"""

from __future__ import annotations

import uuid
import warnings
from dataclasses import dataclass, replace
from pathlib import Path

import torch
from mmengine.config import Config

from benchmark.errors import BenchmarkError
from benchmark.protocols import get_protocol, synthetic_spec
from benchmark.runs.config_builder import build_config
from benchmark.runs.spec import RunSpec

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


def evaluated_network_shapes(cfg: Config) -> tuple[str, dict[str, torch.Size]]:
    """Attribute path (``student.``) and weight shapes of the evaluated network.

    The model is built on the ``meta`` device (no memory, no weights).
    """
    from mmengine.registry import DefaultScope
    from mmseg.registry import MODELS

    with DefaultScope.overwrite_default_scope(cfg.get("default_scope", "mmseg")), \
            torch.device("meta"), warnings.catch_warnings():
        warnings.simplefilter("ignore")  # the library's notices come again in the run's log
        model = MODELS.build(cfg.model)
    network = model.eval_network
    name = next(name for name, module in model.named_modules() if module is network)
    return f"{name}.", {key: value.shape for key, value in network.state_dict().items()}


def evaluation_config(source: CheckpointSource, protocol_name: str | None, method: str,
                      work_dir: Path, data_root: str | None = None,
                      backbone: str | None = None, val_images: int | None = None) -> Config:
    """The config evaluating ``source``: the protocol's evaluation, the run's network.

    Args:
        source: The located checkpoint.
        protocol_name: ``--protocol``; a work dir's own protocol if None.
        method: ``--method`` (the network of a ``.pth``; a work dir uses its run's).
        work_dir: Scratch folder of the evaluation (logs, list files).
        data_root: ``--data-root``.
        backbone: ``--backbone`` (a ``.pth`` only).
        val_images: Evaluate the first N images of the validation list.

    Raises:
        BenchmarkError: For a protocol other than the work dir's, or the config errors of
            :func:`build_config`.
    """
    if source.protocol is not None:
        if protocol_name not in (None, source.protocol):
            raise BenchmarkError(f"{source.checkpoint.parent} is a run of protocol "
                                 f"'{source.protocol}', not '{protocol_name}'; drop "
                                 "--protocol or pass a .pth file")
        protocol_name, method = source.protocol, source.method
    protocol = get_protocol(protocol_name or "synthetic", data_root)
    root = protocol.data_root(override=data_root)
    split = source.split or _available_split(protocol, root)
    spec = RunSpec(method, protocol.name, split, source.seed, backbone=backbone,
                   pretrained="none", data_root=data_root)
    cfg = build_config(spec, root, work_dir)
    if source.run_config is not None:
        cfg.model = Config.fromfile(source.run_config).model
        cfg.model.segmentor.backbone.pop("init_cfg", None)
    cfg.protocol_name = protocol.name
    if val_images is not None:
        _first_validation_images(cfg, protocol, val_images, work_dir)
    cfg.load_from, cfg.resume = None, False
    # MMEngine keeps one visualizer per experiment name (default: the second it started)
    cfg.experiment_name = f"evaluate_{uuid.uuid4().hex[:12]}"
    return cfg


def _available_split(protocol, root: Path) -> str:
    """A partition whose lists are on disk (only its validation list is used)."""
    for split in protocol.partitions:
        if all(path.is_file() for path in protocol.split_files(split, root).labeled):
            return split
    return protocol.partitions[0]  # build_config names the missing list


def _first_validation_images(cfg: Config, protocol, count: int, work_dir: Path) -> None:
    """Point the validation loaders at the first ``count`` lines of the validation list.

    The built-in protocol generates a larger validation set when ``count`` exceeds its
    own (image ``i`` depends only on the seed and ``i``, so its first images are the
    default validation set).
    """
    if count < 1:
        raise BenchmarkError(f"--val-images must be positive, got {count}")
    dataset = cfg.val_dataloader.dataset
    lines = [line for line in Path(dataset.split_lists[0]).read_text().splitlines()
             if line.strip()]
    root = Path(dataset.data_root)
    if count > len(lines):
        if not protocol.builtin:
            raise BenchmarkError(f"--val-images {count} exceeds the {len(lines)} images of "
                                 f"the '{protocol.name}' validation list")
        from benchmark.synthetic import default_root, materialize

        spec = replace(synthetic_spec(), num_val=count)
        root = materialize(default_root(spec), spec)
        lines = (root / "splits" / "val.txt").read_text().splitlines()
    subset = Path(work_dir) / f"val_first{count}.txt"
    subset.parent.mkdir(parents=True, exist_ok=True)
    subset.write_text("".join(f"{line}\n" for line in lines[:count]))
    for loader in ("val_dataloader", "test_dataloader"):
        cfg[loader].dataset.update(split_lists=[str(subset)], data_root=str(root))


def evaluate_checkpoint(cfg: Config, checkpoint: Path, verbose: bool = False) -> dict:
    """Check the weights against the evaluated network, then run MMEngine's ``ValLoop``.

    Args:
        cfg: From :func:`evaluation_config`.
        checkpoint: The ``.pth`` file.
        verbose: Show MMEngine's log on the console.

    Returns:
        The metric's output (``mIoU``, ``aAcc``, ``IoU.<class>``, percent) and
        ``num_images``.

    Raises:
        BenchmarkError: If the checkpoint cannot be read or does not fit the network.
    """
    from mmengine.runner import Runner

    from benchmark.engine.console import file_logging

    prefix, expected = evaluated_network_shapes(cfg)
    weights = network_weights(read_weights(checkpoint), prefix)
    problem = fit_problem(weights, expected, f"checkpoint {checkpoint} does not fit the "
                          f"evaluated network of protocol '{cfg.protocol_name}'")
    official = official_layout(weights) if problem else None
    if official is not None and fit_problem(official, expected, "") is None:
        weights, problem = official, None
    if problem:
        raise BenchmarkError(problem)
    runner = (Runner if verbose else file_logging(Runner)).from_cfg(cfg)
    model = runner.model.module if hasattr(runner.model, "module") else runner.model
    # no hook of the suite touches the weights before validation (before_run, before_val)
    model.eval_network.load_state_dict(weights, strict=True)
    metrics = runner.val()
    return {**metrics, "num_images": len(runner.val_dataloader.dataset)}
