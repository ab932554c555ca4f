"""Re-train the config of a stored record and compare the two numbers.

The record names everything that composes its config (method, protocol, split, seed,
iterations, ``--cfg-options``, backbone, initialisation); composing it again must give
the record's config hash, or the rerun would be another experiment. Built-in method code
is not in the hash, so the files that train (methods, models, data, engine, configs)
are compared with the record's commit as well.
"""

from __future__ import annotations

import json
import math
import subprocess
from dataclasses import dataclass
from pathlib import Path

import pandas as pd

from benchmark.errors import BenchmarkError
from benchmark.paths import PACKAGE_ROOT
from benchmark.runs.record import RunRecord
from benchmark.runs.spec import RunSpec

#: Folders whose code decides what a run trains; a change there makes another experiment.
TRAINING_CODE = ("methods", "benchmark/models", "benchmark/data", "benchmark/engine",
                 "benchmark/configs", "benchmark/self_training", "benchmark/synthetic",
                 "benchmark/pretrain", "benchmark/runs/config_builder.py",
                 "benchmark/runs/protocol_settings.py", "benchmark/runs/executor.py")


def spec_of(record: RunRecord) -> RunSpec:
    """The run a record was made by, as the ``run`` command would plan it."""
    from benchmark.models.backbones import backbone_preset

    backbone = record.backbone or None
    if backbone is not None:
        try:
            backbone_preset(backbone)
        except BenchmarkError:
            backbone = None  # a protocol default, recorded as its type (``ResNetV1c-18``)
    source = (record.pretrained or {}).get("source")
    pretrained = None if source in (None, "generated", "imagenet") else source
    return RunSpec(method=record.method, protocol=record.protocol, split=record.split,
                   seed=record.seed, iters=record.iterations,
                   cfg_options=dict(record.cfg_options), backbone=backbone,
                   pretrained=pretrained)


def hash_mismatch_reasons(record: RunRecord, cfg) -> list[str]:
    """What differs between the record and the config composed now (a hash mismatch)."""
    reasons = []
    if record.split_sha256 and cfg.get("split_sha256") != record.split_sha256:
        reasons.append("the split lists name other images than the record's")
    recorded = (record.pretrained or {}).get("sha256")
    if recorded != cfg.get("pretrained_sha256"):
        reasons.append(f"the backbone checkpoint differs (record {str(recorded)[:12]}, now "
                       f"{str(cfg.get('pretrained_sha256'))[:12]})")
    if record.plugin_sha256 != cfg.get("plugin_sha256"):
        reasons.append("the plugin's source differs from the record's")
    if record.dataset_sha256 and record.dataset_sha256 != cfg.get("dataset_sha256"):
        reasons.append("the generated dataset's files differ from the record's")
    if not reasons:
        reasons.append("protocol or method defaults, or the data stream, changed since the "
                       "record was made")
    return reasons


def run_command(record: RunRecord, results_dir: Path, work_dir: Path,
                known_options: str | None = None) -> list[str]:
    """The ``run`` command line that trains the record's run (for the record's own commit).

    Args:
        record: The record.
        results_dir: ``--results-dir`` of the rerun.
        work_dir: ``--work-dir`` of the rerun.
        known_options: The ``run --help`` text of the code that will run it; options it
            does not list (``--jobs`` is younger than some records) are left out.
    """
    import sys

    def text(value) -> str:
        return json.dumps(value) if isinstance(value, (list, dict)) else str(value)

    command = [sys.executable, "-m", "benchmark", "run", "--methods", record.method,
               "--protocol", record.protocol, "--split", record.split, "--seeds",
               str(record.seed), "--iters", str(record.iterations), "--jobs", "1",
               "--results-dir", str(results_dir), "--work-dir", str(work_dir)]
    if known_options is not None:
        for option in ("--jobs", "--protocol"):
            if option not in known_options and option in command:
                at = command.index(option)
                del command[at:at + 2]
    if record.cfg_options:
        command += ["--cfg-options", *(f"{k}={text(v)}" for k, v in
                                       sorted(record.cfg_options.items()))]
    return command


def changed_training_code(commit: str, repo: Path | None = None) -> list[str] | None:
    """Files of :data:`TRAINING_CODE` that differ between ``commit`` and the working tree.

    Returns:
        The changed paths, or None when it cannot be told (no checkout, unknown commit).
    """
    commit = commit.removesuffix("-dirty")
    repo = repo or PACKAGE_ROOT.parent
    if commit in ("", "unknown"):
        return None
    try:
        out = subprocess.run(["git", "diff", "--name-only", commit, "--", *TRAINING_CODE],
                             cwd=repo, capture_output=True, text=True, check=True).stdout
    except (OSError, subprocess.CalledProcessError):
        return None
    return [line for line in out.splitlines() if line.strip()]


@dataclass(frozen=True)
class Reproduction:
    """A record, its rerun and the row's seed spread."""

    record: RunRecord
    rerun: RunRecord
    row_std: float
    row_seeds: int

    @property
    def difference(self) -> float:
        """``rerun - record`` in mIoU points."""
        return self.rerun.miou - self.record.miou

    def summary(self) -> str:
        """The comparison in a few lines."""
        r = self.record
        lines = [f"record  {r.method} {r.protocol}/{r.split} seed {r.seed} #{r.config_hash[:8]}: "
                 f"mIoU {r.miou:.2f} ({_machine(r)})",
                 f"rerun   mIoU {self.rerun.miou:.2f} ({_machine(self.rerun)})",
                 f"delta   {self.difference:+.2f} mIoU"]
        if self.row_seeds >= 2 and not math.isnan(self.row_std) and self.row_std > 0:
            ratio = abs(self.difference) / self.row_std
            where = ("within one seed std" if ratio <= 1 else "within two seed stds"
                     if ratio <= 2 else "beyond two seed stds: not seed noise")
            lines.append(f"spread  the row's seed std is {self.row_std:.2f} over "
                         f"{self.row_seeds} seeds: |delta| = {ratio:.2f} std, {where}")
        else:
            lines.append("spread  the row has fewer than 2 seeds: no seed spread to compare "
                         "with")
        if r.threads != self.rerun.threads or (r.cpu and r.cpu != self.rerun.cpu):
            lines.append("note    thread count or CPU kind differ from the record's: float "
                         "reductions round differently, so a small delta is expected")
        elif self.difference == 0:
            lines.append("note    bit-identical result")
        return "\n".join(lines)


def _machine(record: RunRecord) -> str:
    threads = "threads not recorded" if record.threads is None else \
        f"{record.threads} thread{'' if record.threads == 1 else 's'}"
    return f"{threads}, {record.cpu or 'CPU not recorded'}"


def row_spread(records: list[RunRecord], record: RunRecord) -> tuple[float, int]:
    """Sample std of mIoU over the seeds of the record's row (same hash, split, protocol)."""
    values = {r.seed: r.miou for r in records
              if r.config_hash == record.config_hash and r.split == record.split
              and r.protocol == record.protocol and r.method == record.method}
    series = pd.Series(values, dtype=float)
    return (float(series.std()) if len(series) >= 2 else math.nan), len(series)


def find_record(records: list[RunRecord], method: str, split: str, seed: int,
                protocol: str | None) -> RunRecord:
    """The one stored record of (method, split, seed[, protocol]).

    Raises:
        BenchmarkError: If there is none, or several configs match (name the file then).
    """
    found = [r for r in records if r.method == method and r.split == split and r.seed == seed
             and (protocol is None or r.protocol == protocol)]
    if not found:
        raise BenchmarkError(f"no record of {method} at {split} seed {seed}; see "
                             "`python -m benchmark table` for what is stored")
    if len({r.config_hash for r in found}) > 1:
        names = ", ".join(sorted(r.filename for r in found))
        raise BenchmarkError(f"several configs of {method} at {split} seed {seed} are stored "
                             f"({names}); pass the record file instead")
    return found[0]
