"""The specification of one run: method x protocol x split x seed (+ overrides)."""

from __future__ import annotations

from dataclasses import dataclass, field


@dataclass(frozen=True)
class RunSpec:
    """One run of the benchmark.

    Attributes:
        method: Registered method name.
        protocol: Protocol name.
        split: Resolved split name within the protocol.
        seed: Random seed.
        iters: Training iterations; None keeps the protocol's schedule.
        cfg_options: Extra ``key=value`` config overrides (dotted keys).
        backbone: ``--backbone`` (``r50``, ``r101``, ``timm:<name>``); None keeps the
            protocol's.
        pretrained: ``--pretrained`` (a checkpoint path or ``none``); None keeps the
            protocol's default location.
        data_root: ``--data-root``; None uses the protocol's environment variable or default.
    """

    method: str
    protocol: str
    split: str
    seed: int = 0
    iters: int | None = None
    cfg_options: dict = field(default_factory=dict)
    backbone: str | None = None
    pretrained: str | None = None
    data_root: str | None = None

    @property
    def run_id(self) -> str:
        """Stable identifier used for folder and file names."""
        return f"{self.protocol}__{self.split}__{self.method}__seed{self.seed}"

    @property
    def label(self) -> str:
        """Short human-readable label."""
        return f"{self.method} {self.protocol}/{self.split} seed {self.seed}"
