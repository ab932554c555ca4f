"""Run records: one JSON file per run, the only input of the leaderboards."""

from __future__ import annotations

import json
from dataclasses import asdict, dataclass, field
from pathlib import Path

from benchmark.atomic_io import write_text_atomic
from benchmark.errors import BenchmarkError

RECORD_VERSION = 1


@dataclass
class RunRecord:
    """Everything measured about one run.

    mIoU values are percentages. ``miou`` is the final checkpoint's; ``best_miou`` is
    the maximum over the periodic validations and is reported only as a labelled,
    separate column. ``pretrained`` names the backbone initialisation (source and SHA-256
    of the checkpoint); ``ema`` the teacher's EMA policy (None without a teacher).
    ``threads`` is the intra-op thread count the run trained with and ``cpu`` the CPU kind
    (model and vector instruction set): timings depend on both, and float reductions (so
    the trained weights) differ between thread counts and CPU kernels; None in records
    older than the fields. ``resumed_from`` is the iteration an
    interrupted run was resumed from (0: trained in one go). ``plugin_sha256`` is the
    source hash of an external plugin (None for built-in methods).
    ``backbone`` is the backbone choice, ``network`` the network it is used in
    (``deeplabv3plus``, or ``vit_dpt`` for a ViT backbone; None in older records) and
    ``eval_mode`` how the evaluated network predicts (``whole`` or ``slide
    <window>/<stride>``); records written before these fields existed load with them
    empty. ``git_dirty`` says whether tracked files
    differed from ``git_commit`` and ``git_diff_sha256`` hashes that diff.
    ``global_batch`` is the labeled images per step over all processes
    (``labeled_batch x world_size``). ``split_sha256`` hashes the image/label ids the split
    lists named (labeled, unlabeled, val); ``dataset_sha256`` the generated dataset's files
    (built-in protocol). Fields added later are None in older records.
    """

    protocol: str
    split: str
    method: str
    seed: int
    miou: float
    per_class_iou: dict[str, float]
    best_miou: float
    best_iter: int
    iterations: int
    labeled_batch: int
    unlabeled_batch: int
    world_size: int
    lr: float
    evaluated_network: str
    config_hash: str
    git_commit: str
    versions: dict[str, str]
    device: str
    wall_time_s: float
    train_time_s: float
    seconds_per_iter: float | None
    peak_memory_mb: float
    diagnostics: dict[str, float] = field(default_factory=dict)
    val_history: list[dict] = field(default_factory=list)
    cfg_options: dict = field(default_factory=dict)
    created: str = ""
    work_dir: str = ""
    pretrained: dict = field(default_factory=dict)
    ema: dict | None = None
    threads: int | None = None
    resumed_from: int = 0
    plugin_sha256: str | None = None
    backbone: str = ""
    eval_mode: str = ""
    git_dirty: bool | None = None
    git_diff_sha256: str | None = None
    global_batch: int | None = None
    split_sha256: str | None = None
    cpu: str | None = None
    dataset_sha256: str | None = None
    network: str | None = None
    record_version: int = RECORD_VERSION

    @property
    def filename(self) -> str:
        run = f"{self.protocol}__{self.split}__{self.method}__seed{self.seed}"
        return f"{run}__{self.config_hash[:8]}.json"

    def save(self, results_dir: Path) -> Path:
        """Write the record atomically into ``results_dir/runs/`` and return the path."""
        folder = Path(results_dir) / "runs"
        folder.mkdir(parents=True, exist_ok=True)
        text = json.dumps(asdict(self), indent=2, sort_keys=True)
        return write_text_atomic(folder / self.filename, text)


def load_records(results_dir: Path) -> list[RunRecord]:
    """Load every record under ``results_dir/runs``.

    Raises:
        BenchmarkError: If a record file is unreadable.
    """
    return [read_record(path) for path in sorted((Path(results_dir) / "runs").glob("*.json"))]


def read_record(path: Path) -> RunRecord:
    """The record stored in ``path``.

    Raises:
        BenchmarkError: If the file is unreadable, not JSON or not a record.
    """
    try:
        return RunRecord(**json.loads(Path(path).read_text()))
    except (OSError, ValueError, TypeError) as err:
        raise BenchmarkError(f"cannot read run record {path}: {err}; delete or fix it") from err
