"""Evaluate a stored checkpoint on a protocol's validation set (``python -m benchmark evaluate``).

The evaluation is the one a run ends with: the config composed by
:func:`~benchmark.runs.config_builder.build_config` (validation set, pipeline, the
protocol's ``whole`` or ``slide`` mode, ``PerClassIoUMetric``) run by MMEngine's
``Runner.val`` (``ValLoop``). A run's work dir is evaluated in the network of the config
the run dumped there (its method, backbone and ``test_cfg``), a ``.pth`` file in the
network of ``--method`` on ``--protocol`` (the checkpoint kinds:
:mod:`benchmark.runs.checkpoint_weights`).

The evaluated network's weights are checked against the checkpoint's (names and shapes)
before anything is evaluated; a mismatch is one error line with the counts.
"""

from __future__ import annotations

import uuid
import warnings
from dataclasses import replace
from pathlib import Path

import torch
from mmengine.config import Config

from benchmark.errors import BenchmarkError
from benchmark.protocols import get_protocol, synthetic_spec
from benchmark.registry import get_method
from benchmark.runs.cfg_options import option_problems, strip_new_key_markers
from benchmark.runs.checkpoint_weights import (
    CheckpointSource,
    fit_problem,
    network_weights,
    official_layout,
    read_weights,
)
from benchmark.runs.config_builder import build_config
from benchmark.runs.spec import RunSpec


def evaluated_network_shapes(cfg: Config) -> tuple[str, dict[str, torch.Size]]:
    """Attribute path (``student.``) and weight shapes of the evaluated network.

    The model is built on the ``meta`` device (no memory, no weights).
    """
    from mmengine.registry import DefaultScope
    from mmseg.registry import MODELS

    try:
        with DefaultScope.overwrite_default_scope(cfg.get("default_scope", "mmseg")), \
                torch.device("meta"), warnings.catch_warnings():
            warnings.simplefilter("ignore")  # the library's notices come again in its log
            model = MODELS.build(cfg.model)
    except Exception as err:  # noqa: BLE001 - any constructor error is the user's to fix
        first_line = (str(err).splitlines() or [""])[0]
        raise BenchmarkError(f"the evaluated network does not build: {type(err).__name__}: "
                             f"{first_line}") from err
    network = model.eval_network
    name = next(name for name, module in model.named_modules() if module is network)
    return f"{name}.", {key: value.shape for key, value in network.state_dict().items()}


def evaluation_config(source: CheckpointSource, protocol_name: str | None, method: str,
                      work_dir: Path, data_root: str | None = None,
                      backbone: str | None = None, val_images: int | None = None,
                      cfg_options: dict | None = None) -> Config:
    """The config evaluating ``source``: the protocol's evaluation, the run's network.

    Args:
        source: The located checkpoint.
        protocol_name: ``--protocol``; a work dir's own protocol if None.
        method: ``--method`` (the network of a ``.pth``; a work dir uses its run's).
        work_dir: Scratch folder of the evaluation (logs, list files).
        data_root: ``--data-root``.
        backbone: ``--backbone`` (a ``.pth`` only).
        val_images: Evaluate the first N images of the validation list.
        cfg_options: ``--cfg-options`` ``{key: value}``, checked against the composed
            config (e.g. ``model.segmentor.test_cfg.window_rule``).

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
    if cfg_options:
        problems = option_problems(cfg, cfg_options, get_method(method).cls, method)
        if problems:
            raise BenchmarkError("\n".join(problems))
        cfg.merge_from_dict(strip_new_key_markers(cfg_options))
    if val_images is not None:
        _first_validation_images(cfg, protocol, val_images, work_dir)
    cfg.load_from, cfg.resume = None, False
    # MMEngine keeps one visualizer (and its log folder) per name: one per evaluation
    cfg.experiment_name = f"evaluate_{uuid.uuid4().hex[:12]}"
    if cfg.get("visualizer"):
        cfg.visualizer.name = cfg.experiment_name
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
