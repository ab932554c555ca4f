"""Train and evaluate one run with MMEngine's Runner and write its record."""

from __future__ import annotations

import copy
import os
import resource
import sys
import time
from datetime import datetime, timezone
from pathlib import Path

import torch
from mmengine.config import Config
from mmengine.dist import get_world_size

from benchmark.engine import RunProgressHook
from benchmark.engine.console import file_logging
from benchmark.engine.resume import (
    RandomStateHook,
    ResumableRunner,
    ResumeCheckpointHook,
    resumable_checkpoint,
)
from benchmark.environment import cpu_model, device_info, git_state, package_versions
from benchmark.protocols import get_protocol
from benchmark.runs.config_builder import build_config, config_hash
from benchmark.runs.launcher import apply_launcher, is_main_process
from benchmark.runs.network_settings import network_label
from benchmark.runs.protocol_settings import backbone_label, evaluated_weights, evaluation_mode
from benchmark.runs.record import RunRecord
from benchmark.runs.results_space import save_record
from benchmark.runs.spec import RunSpec


def _peak_memory_mb() -> float:
    if torch.cuda.is_available():
        return torch.cuda.max_memory_allocated() / 2**20
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


def compose_config(spec: RunSpec, work_root: Path, check_data: bool = True,
                   require_weights: bool = True) -> Config:
    """The run's full config, with its work dir ``work_root/<run id>__<config hash>``.

    ``check_data=False`` composes it without the dataset on disk, ``require_weights=False``
    without the backbone checkpoint (see ``build_config``).

    A multi-process run (``WORLD_SIZE`` > 1) has ``world_size`` in its config, so its
    hash differs from the single-process run's. The hash in the folder name keeps a rerun
    with other options from overwriting the checkpoints an older record points to, and
    lets an interrupted run find its own.
    """
    protocol = get_protocol(spec.protocol, spec.data_root)
    data_root = protocol.data_root(override=spec.data_root, must_exist=check_data)
    cfg = build_config(spec, data_root, Path(work_root) / spec.run_id, check_data,
                       require_weights)
    world_size = int(os.environ.get("WORLD_SIZE", "1"))
    if world_size > 1:
        # the global batch is the experiment: N processes never pass for one
        cfg.world_size = world_size
    cfg.work_dir = str(Path(work_root) / f"{spec.run_id}__{config_hash(cfg)[:8]}")
    return cfg


def _resume_point(cfg: Config, label: str, restart: bool, announce: bool = True,
                  recorded: bool = False) -> int:
    """Point ``cfg`` at the checkpoint an interrupted run left; return its iteration (or 0).

    The checkpoint of the last iteration is written before the final validation: without
    a record (``recorded`` False) the run was interrupted during that validation, and it
    is loaded to be evaluated only (the returned iteration is then the schedule's end).
    ``announce`` prints what is done (rank 0 of a multi-process run, or the only process).
    """
    found = resumable_checkpoint(Path(cfg.work_dir))
    max_iters = cfg.train_cfg.max_iters
    if found is None or found[1] > max_iters or (found[1] == max_iters and recorded):
        return 0
    path, iteration = found
    if restart:
        if announce:
            print(f"{label}: --restart: ignoring the checkpoint at iteration {iteration}",
                  file=sys.stderr)
        return 0
    if announce and iteration == max_iters:
        print(f"{label}: the final checkpoint has no record (interrupted during the final "
              f"validation): evaluating it without training ({path}; --restart trains "
              "again)", file=sys.stderr)
    elif announce:
        print(f"{label}: resuming from iteration {iteration} ({path}; --restart starts over)",
              file=sys.stderr)
    cfg.resume = True
    cfg.load_from = str(path)
    return iteration


def execute_run(spec: RunSpec, results_dir: Path, work_root: Path, label: str = "",
                verbose: bool = False, cfg: Config | None = None,
                progress_lines: int | None = None, restart: bool = False,
                launcher: str = "none") -> tuple[RunRecord, Path | None]:
    """Train, evaluate and record one run.

    Args:
        spec: The run.
        results_dir: Where the record is written (``runs/`` below it).
        work_root: Parent of the run's work dir (checkpoints, MMEngine logs).
        label: Prefix of the progress line.
        verbose: Show MMEngine's own log on the console (by default it goes to the log
            file in the work dir only, errors aside; see :mod:`benchmark.engine.console`).
        cfg: The run's config from :func:`compose_config` (not modified), if already
            composed; else it is composed here.
        progress_lines: Report progress as this many full lines instead of one redrawn
            line (runs side by side share the console).
        restart: Train from iteration 0 even if an interrupted run of the same config left
            a checkpoint (by default the run resumes from it).
        launcher: MMEngine launcher (``none`` or ``pytorch`` under torchrun); only rank 0
            prints progress and writes the record.

    Returns:
        The record and the path it was written to (None on ranks other than 0).
    """
    start = time.perf_counter()
    cfg = copy.deepcopy(cfg) if cfg is not None else compose_config(spec, work_root)
    work_dir = Path(cfg.work_dir)
    experiment_hash = config_hash(cfg)  # before the runtime-only entries below
    cfg.experiment_name = f"{spec.run_id}_{datetime.now():%Y%m%d_%H%M%S}"
    if "visualizer" in cfg:
        # MMEngine hands out an existing visualizer of the same name, with the first run's
        # save folder: runs trained one after another in one process would log their
        # scalars into the first run's work dir
        cfg.visualizer.name = f"visualizer_{cfg.experiment_name}_{id(cfg)}"
    if torch.cuda.is_available():
        torch.cuda.reset_peak_memory_stats()

    apply_launcher(cfg, launcher)
    main_process = is_main_process()
    recorded = (Path(results_dir) / "runs" / f"{spec.run_id}__{experiment_hash[:8]}.json")
    resumed_from = _resume_point(cfg, label or spec.label, restart, announce=main_process,
                                 recorded=recorded.is_file())
    runner = (ResumableRunner if verbose else file_logging(ResumableRunner)).from_cfg(cfg)
    progress = RunProgressHook(label=label or spec.label,
                               stream=sys.stderr if main_process else None,
                               updates=progress_lines)
    runner.register_hook(progress)
    runner.register_hook(RandomStateHook())
    runner.register_hook(ResumeCheckpointHook(_checkpoint_interval(cfg)))
    if resumed_from >= cfg.train_cfg.max_iters:
        runner.val()  # loads the final checkpoint (cfg.resume) and runs the final validation
        progress.finish_without_training()
    else:
        runner.train()

    history = progress.val_history
    final = history[-1]
    best = max(history, key=lambda h: h["mIoU"])
    model = runner.model.module if hasattr(runner.model, "module") else runner.model
    train_loader = cfg.train_dataloader
    labeled_only = bool(train_loader.dataset.get("labeled_only"))
    git = git_state()
    record = RunRecord(
        protocol=spec.protocol,
        split=spec.split,
        method=spec.method,
        seed=spec.seed,
        miou=final["mIoU"],
        per_class_iou={k[4:]: v for k, v in final.items() if k.startswith("IoU.")},
        best_miou=best["mIoU"],
        best_iter=best["iter"],
        iterations=runner.max_iters,
        labeled_batch=train_loader.batch_size,
        unlabeled_batch=0 if labeled_only else train_loader.batch_size,
        world_size=get_world_size(),
        lr=cfg.optim_wrapper.optimizer.lr,
        evaluated_network=evaluated_weights(cfg, model.predict_on),
        config_hash=experiment_hash,
        git_commit=git["label"],
        git_dirty=git["dirty"],
        git_diff_sha256=git["diff_sha256"],
        versions=package_versions(),
        device=str(device_info()["device"]),
        wall_time_s=time.perf_counter() - start,
        train_time_s=progress.train_seconds,
        seconds_per_iter=progress.seconds_per_iter,
        peak_memory_mb=_peak_memory_mb(),
        diagnostics={**progress.diagnostics, **getattr(model, "round_diagnostics", {})},
        val_history=history,
        cfg_options=dict(spec.cfg_options),
        created=datetime.now(timezone.utc).isoformat(timespec="seconds"),
        work_dir=str(work_dir),
        pretrained={"source": str(cfg.get("pretrained", "none")),
                    "checkpoint": cfg.model.segmentor.backbone.get("init_cfg", {}).get(
                        "checkpoint"),
                    "sha256": cfg.get("pretrained_sha256")},
        ema=model.ema_policy(),
        threads=torch.get_num_threads(),
        cpu=cpu_model(),
        resumed_from=resumed_from,
        plugin_sha256=cfg.get("plugin_sha256"),
        backbone=backbone_label(cfg),
        network=network_label(cfg),
        eval_mode=evaluation_mode(cfg),
        global_batch=train_loader.batch_size * get_world_size(),
        split_sha256=cfg.get("split_sha256"),
        dataset_sha256=cfg.get("dataset_sha256"),
    )
    return record, save_record(record, results_dir, work_dir) if main_process else None


def _checkpoint_interval(cfg: Config) -> int:
    """Iterations between resume checkpoints: ``resume_interval`` if set, else validation's."""
    return int(cfg.get("resume_interval") or cfg.train_cfg.get("val_interval") or 1000)


def find_done(spec: RunSpec, results_dir: Path, cfg: Config | None = None) -> Path | None:
    """Return the record of ``spec`` with the same config hash, if it exists.

    ``cfg`` is the run's composed config, if already built (the hash ignores the work dir).
    """
    if cfg is None:
        cfg = compose_config(spec, Path(results_dir) / "unused")
    path = Path(results_dir) / "runs" / f"{spec.run_id}__{config_hash(cfg)[:8]}.json"
    return path if path.is_file() else None
