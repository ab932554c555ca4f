"""Pre-flight: check every planned run before the first training iteration.

Each run's config is composed (method/split compatibility, config files, ``--cfg-options``
keys and types, dataset and pretrained checkpoint), each distinct model config is built
once on PyTorch's ``meta`` device (no memory, no weights: only the constructors run), and
the results and work directories must be writable (and records have room and a path,
:mod:`benchmark.runs.results_space`). Every problem is collected; they are
raised together, one line each, so a sweep never stops half-way for a mistake that was
visible at the start.
"""

from __future__ import annotations

import json
import os
import warnings
from pathlib import Path

from mmengine.config import Config

from benchmark.errors import BenchmarkError
from benchmark.runs.spec import RunSpec


class Problems:
    """Problem lines, each naming the runs it concerns (same line, runs merged)."""

    def __init__(self) -> None:
        self._runs: dict[str, list[str]] = {}

    def add(self, message: str, spec: RunSpec | None = None) -> None:
        """Record every line of ``message``, for ``spec`` (None: the whole sweep)."""
        for line in message.splitlines():
            runs = self._runs.setdefault(line, [])
            if spec is not None:
                runs.append(spec.label)

    def raise_if_any(self) -> None:
        """Raise one :class:`BenchmarkError` with one line per problem, if there is any."""
        if self._runs:
            raise BenchmarkError("\n".join(f"{line} ({', '.join(runs)})" if runs else line
                                           for line, runs in self._runs.items()))


def writable_problem(path: Path, option: str) -> str | None:
    """Why ``path`` cannot be (created and) written as a directory, or None if it can."""
    path = Path(path)
    existing = path
    while not existing.exists() and existing != existing.parent:
        existing = existing.parent
    if existing.exists() and not existing.is_dir():
        what = "is a file" if existing == path else f"is below the file {existing}"
        return f"{option} {path} {what}; pass a directory"
    if not os.access(existing, os.W_OK | os.X_OK):
        return f"{option} {path} is not writable ({existing} is read-only); pass another folder"
    return None


def model_build_problem(cfg: Config, method: str) -> str | None:
    """Build the model of ``cfg`` on the ``meta`` device; the error line if it fails."""
    import torch
    from mmengine.registry import DefaultScope
    from mmseg.registry import MODELS

    from benchmark.models.official_deeplabv3plus_head import unknown_head_problem

    try:
        # the library's deprecation notices come again, in the run's log, when it trains
        with DefaultScope.overwrite_default_scope(cfg.get("default_scope", "mmseg")), \
                torch.device("meta"), warnings.catch_warnings():
            warnings.simplefilter("ignore")
            if problem := unknown_head_problem(cfg.model.get("segmentor") or {}):
                return problem
            MODELS.build(cfg.model)
    except Exception as err:  # noqa: BLE001 - any constructor error is the user's to fix
        first_line = (str(err).splitlines() or [""])[0]
        return (f"method '{method}' does not build with its composed config: "
                f"{type(err).__name__}: {first_line}")
    return None


def data_problem(spec: RunSpec) -> str | None:
    """What is wrong with ``spec``'s dataset on disk (missing folder or files), if anything."""
    from benchmark.data.layout import check_dataset
    from benchmark.protocols import get_protocol

    try:
        protocol = get_protocol(spec.protocol, spec.data_root)
        root = protocol.data_root(override=spec.data_root)
        check_dataset(protocol.layout, root, protocol.split_files(spec.split, root))
    except BenchmarkError as err:
        return str(err)
    return None


def preflight(specs: list[RunSpec], work_root: Path, results_dir: Path,
              plan_only: bool = False, notes: list[str] | None = None) -> list[Config]:
    """Compose and check every run of the sweep before anything trains.

    Args:
        specs: The planned runs.
        work_root: Parent of the runs' work dirs (``--work-dir``).
        results_dir: Where records and leaderboards go (``--results-dir``).
        plan_only: Compose configs whose dataset or backbone checkpoint is not on this
            machine (a sweep planned here and trained elsewhere, ``--dry-run``): the
            problem goes to ``notes`` instead of stopping the pre-flight.
        notes: Receives the problems of ``plan_only``, one line each.

    Returns:
        The composed configs, in the order of ``specs``.

    Raises:
        BenchmarkError: One line per problem (unwritable folders, a results disk without
            room, a record path taken by a folder, runs whose config does not compose,
            models that do not build), each naming the runs concerned.
    """
    from benchmark.runs.config_builder import config_hash
    from benchmark.runs.executor import compose_config
    from benchmark.runs.results_space import record_path_problem, results_dir_problem

    problems = Problems()
    for path, option in ((results_dir, "--results-dir"), (work_root, "--work-dir")):
        if problem := writable_problem(path, option) or (
                path == results_dir and results_dir_problem(results_dir)):
            problems.add(problem)
    configs, built = [], {}
    for spec in specs:
        check_data = True
        if plan_only and (missing := data_problem(spec)):
            check_data = False
            if notes is not None and missing not in notes:
                notes.append(missing)
        try:
            cfg = compose_config(spec, work_root, check_data, require_weights=not plan_only)
        except BenchmarkError as err:
            problems.add(str(err), spec)
            continue
        if notes is not None and cfg.get("unknown_hash_input") not in (None, *notes):
            notes.append(cfg.unknown_hash_input)
        configs.append(cfg)
        record = f"{spec.run_id}__{config_hash(cfg)[:8]}.json"
        if problem := record_path_problem(results_dir, record):
            problems.add(problem, spec)
        model_key = json.dumps(cfg.model.to_dict(), sort_keys=True, default=str)
        if model_key not in built:
            built[model_key] = model_build_problem(cfg, spec.method)
        if built[model_key]:
            problems.add(built[model_key], spec)
    problems.raise_if_any()
    return configs
