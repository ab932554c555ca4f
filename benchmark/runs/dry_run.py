"""``run --dry-run``: the plan of a sweep as text, after pre-flight, without training."""

from __future__ import annotations

import json
from pathlib import Path

from mmengine.config import Config

from benchmark.runs.config_builder import config_hash
from benchmark.runs.executor import find_done
from benchmark.runs.network_summary import summarize_network
from benchmark.runs.spec import RunSpec


def describe_plan(specs: list[RunSpec], configs: list[Config], results_dir: Path,
                  force: bool = False) -> str:
    """One line per run: its label, config hash, options, and whether it would train.

    A run whose record already exists (same config hash) is marked as skipped, or with
    ``force`` (``run`` without ``--skip-done``) as one that would train again. Then one
    line per distinct network: the run numbers, the decode head and the parameter counts
    (:mod:`benchmark.runs.network_summary`).
    """
    lines = [f"plan: {len(specs)} run(s); nothing is trained (--dry-run)"]
    trained = 0
    networks: dict[str, list[int]] = {}
    for number, (spec, cfg) in enumerate(zip(specs, configs), start=1):
        digest = config_hash(cfg)
        record = find_done(spec, results_dir, cfg)
        if record is None:
            action = "would train"
            trained += 1
        elif not force:
            action = f"skipped, record exists: {record}"
        else:
            action = f"would train again (record {record} exists; --skip-done skips it)"
            trained += 1
        options = " ".join(f"{k}={v!r}" for k, v in sorted(spec.cfg_options.items()))
        shown = "?" * 8 if cfg.get("unknown_hash_input") else digest[:8]  # needs the weights
        lines.append(f"[{number}/{len(specs)}] {spec.label}  config {shown}"
                     f"{f'  options {options}' if options else ''}  {action}")
        key = json.dumps(cfg.model.segmentor.to_dict(), sort_keys=True, default=str)
        networks.setdefault(key, []).append(number)
    for numbers in networks.values():
        runs = ",".join(str(n) for n in numbers)
        lines.append(f"network [{runs}]: {summarize_network(configs[numbers[0] - 1])}")
    if any(cfg.get("unknown_hash_input") for cfg in configs):
        lines.append("????????: the config hash holds the backbone checkpoint's SHA-256, and "
                     "the checkpoint is not on this machine")
    lines.append(f"{trained} run(s) would train")
    return "\n".join(lines)
