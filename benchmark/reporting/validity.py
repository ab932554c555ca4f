"""The built-in protocol's validity targets, measured from stored run records.

The built-in protocol stands in for the papers' only if, measured on its own records,
supervised-only has converged and is label-starved, seed noise is small, the
semi-supervised references win where the papers say they do, and the whole study fits
its time budget. :func:`validity_block` turns the records into that table (target,
measured, met); ``python -m benchmark validity`` prints it and writes it into the
README. No library evaluates such targets, so this module is written here; the
statistics are :mod:`benchmark.reporting.paired`'s (scipy and statsmodels).
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import pandas as pd

from benchmark.protocols import FULL_SPLIT
from benchmark.reporting.cells import mean_std_text
from benchmark.reporting.formats import Block
from benchmark.reporting.frame import SUPERVISED
from benchmark.reporting.paired import (
    PairedComparison,
    TooFewPairs,
    holm_adjusted,
    paired_comparison,
)

NOT_MEASURED = "not measured"


@dataclass(frozen=True)
class Reference:
    """One semi-supervised row the representativeness target names.

    Attributes:
        method: Registered method name.
        options: Its experimental ``--cfg-options`` as the leaderboard shows them
            (``""``: the method's defaults).
    """

    method: str
    options: str = ""

    @property
    def label(self) -> str:
        """``sop (model.sop_weight=0)``, or the method alone for its defaults."""
        return f"{self.method} ({self.options})" if self.options else self.method


@dataclass(frozen=True)
class ValidityTargets:
    """What makes the built-in protocol representative, as numbers.

    Attributes:
        converged_within: Supervised-only on all labels moves by at most this much (mIoU)
            when the schedule is doubled.
        scarcity_gap: Supervised-only on all labels minus at ``noise_split`` is at least this.
        noise_split: Split of the label-scarcity and seed-noise targets.
        max_seed_std: Largest std of supervised-only at ``noise_split``...
        noise_seeds: ...over at least this many seeds.
        references: Rows that must beat supervised-only (paired over seeds, p-values
            Holm-adjusted within each split's family of these rows).
        win_splits: Splits where each reference must be above supervised-only beyond
            seed noise.
        no_loss_splits: Splits where none may be below it beyond seed noise.
        make_run_methods: The methods ``make run`` trains, side by side.
        make_run_budget_s: Its budget.
        leaderboard_seeds: Seeds per registered method of the shipped leaderboard.
        leaderboard_budget_s: Budget of training all of them at ``noise_split``...
        slots: ...with this many runs side by side.
    """

    converged_within: float = 1.0
    scarcity_gap: float = 15.0
    noise_split: str = "1_8"
    max_seed_std: float = 1.5
    noise_seeds: int = 5
    references: tuple[Reference, ...] = (Reference("unimatch"),
                                         Reference("sop", "model.sop_weight=0"))
    win_splits: tuple[str, ...] = ("1_16", "1_8")
    no_loss_splits: tuple[str, ...] = ("1_4",)
    make_run_methods: tuple[str, ...] = ("sop", "unimatch")
    make_run_budget_s: float = 600.0
    leaderboard_seeds: int = 3
    leaderboard_budget_s: float = 3 * 3600.0
    slots: int = 2


@dataclass(frozen=True)
class TargetResult:
    """One line of the validity table.

    Attributes:
        target: The target in words.
        measured: What the records give.
        met: True/False, or None when the records needed are missing.
    """

    target: str
    measured: str
    met: bool | None

    @property
    def met_text(self) -> str:
        """``yes``, ``no`` or ``not measured``."""
        return NOT_MEASURED if self.met is None else ("yes" if self.met else "no")


def split_text(split: str) -> str:
    """``1/8`` for ``1_8``; other names unchanged."""
    return split.replace("_", "/") if split.startswith("1_") else split


def _cell(runs: pd.DataFrame, method: str, split: str, iterations: int,
          options: str = "", column: str = "miou") -> pd.Series:
    """One config's values at a split, indexed by seed (seeds run twice are averaged)."""
    cell = runs[(runs.method == method) & (runs.split == split)
                & (runs.iterations == iterations) & (runs.options == options)]
    return cell.groupby("seed")[column].mean().dropna()


def _mean_std(values: pd.Series) -> str:
    return mean_std_text(values.mean(), values.std(), len(values))


def convergence(runs: pd.DataFrame, schedule: int, targets: ValidityTargets) -> TargetResult:
    """Supervised-only on all labels at the schedule and at twice it."""
    target = (f"supervised-only on all labels converged (2x schedule moves it "
              f"<= {targets.converged_within:g})")
    short = _cell(runs, SUPERVISED, FULL_SPLIT, schedule)
    long = _cell(runs, SUPERVISED, FULL_SPLIT, 2 * schedule)
    if short.empty or long.empty:
        missing = [f"{n} it" for n, v in ((schedule, short), (2 * schedule, long)) if v.empty]
        return TargetResult(target, f"no `full` records at {' and '.join(missing)}", None)
    move = long.mean() - short.mean()
    return TargetResult(target, f"{_mean_std(short)} at {schedule}, {_mean_std(long)} at "
                        f"{2 * schedule} iterations ({move:+.2f})",
                        bool(abs(move) <= targets.converged_within))


def label_scarcity(runs: pd.DataFrame, schedule: int, targets: ValidityTargets) -> TargetResult:
    """Supervised-only on all labels minus at the noise split."""
    split = split_text(targets.noise_split)
    target = f"label scarcity: all labels minus {split} >= {targets.scarcity_gap:g}"
    full = _cell(runs, SUPERVISED, FULL_SPLIT, schedule)
    part = _cell(runs, SUPERVISED, targets.noise_split, schedule)
    if full.empty or part.empty:
        return TargetResult(target, f"needs supervised-only at `full` and {split}", None)
    gap = full.mean() - part.mean()
    return TargetResult(target, f"{full.mean():.2f} (n={len(full)}) - {part.mean():.2f} "
                        f"(n={len(part)}) = {gap:.2f}", bool(gap >= targets.scarcity_gap))


def seed_noise(runs: pd.DataFrame, schedule: int, targets: ValidityTargets) -> TargetResult:
    """Standard deviation of supervised-only over seeds at the noise split."""
    split = split_text(targets.noise_split)
    target = (f"seed noise: std of supervised-only at {split} over {targets.noise_seeds} "
              f"seeds <= {targets.max_seed_std:g}")
    values = _cell(runs, SUPERVISED, targets.noise_split, schedule)
    if len(values) < targets.noise_seeds:
        return TargetResult(target, f"{len(values)} seed(s)", None)
    std = float(values.std())
    return TargetResult(target, f"{std:.2f} ({_mean_std(values)})",
                        bool(std <= targets.max_seed_std))


def reference_comparisons(runs: pd.DataFrame, schedule: int, targets: ValidityTargets,
                          split: str) -> dict[Reference, PairedComparison | None]:
    """Each reference minus supervised-only at one split, Holm-adjusted over the references.

    Returns:
        Reference -> comparison, None where fewer than two seeds are shared.
    """
    baseline = _cell(runs, SUPERVISED, split, schedule)
    family = {}
    for reference in targets.references:
        values = _cell(runs, reference.method, split, schedule, reference.options)
        try:
            family[reference] = paired_comparison(values, baseline, reference.label, SUPERVISED)
        except TooFewPairs:
            continue
    adjusted = holm_adjusted(family)
    return {reference: adjusted.get(reference) for reference in targets.references}


def _comparison_text(comparison: PairedComparison) -> str:
    p_value = comparison.adjusted_p_value
    p_text = "n/a" if p_value is None or math.isnan(p_value) else f"{p_value:.3g}"
    return (f"{comparison.a} {comparison.mean_difference:+.2f} [{comparison.ci_low:+.1f}, "
            f"{comparison.ci_high:+.1f}], p_Holm = {p_text} (n={comparison.n})")


def representative(runs: pd.DataFrame, schedule: int,
                   targets: ValidityTargets) -> list[TargetResult]:
    """One line per split: the references beat (or do not lose to) supervised-only."""
    names = " and ".join(f"`{r.label}`" for r in targets.references)
    results = []
    for split, must_win in [(s, True) for s in targets.win_splits] + \
                           [(s, False) for s in targets.no_loss_splits]:
        relation = ("beat supervised-only beyond seed noise" if must_win
                    else "not below supervised-only beyond seed noise")
        target = f"representative at {split_text(split)}: {names} {relation} (paired, Holm)"
        comparisons = reference_comparisons(runs, schedule, targets, split)
        missing = [r.label for r, c in comparisons.items() if c is None]
        measured = "; ".join(_comparison_text(c) for c in comparisons.values() if c)
        if missing:
            gap = f"no 2 seeds shared with supervised-only: {', '.join(missing)}"
            results.append(TargetResult(target, f"{measured}; {gap}" if measured else gap,
                                        None))
            continue
        wanted = (lambda c: c.direction > 0) if must_win else (lambda c: c.direction >= 0)
        results.append(TargetResult(target, measured,
                                    all(wanted(c) for c in comparisons.values())))
    return results


def _median_wall(runs: pd.DataFrame, method: str, split: str, schedule: int) -> float:
    return float(_cell(runs, method, split, schedule, column="wall_time_s").median())


def _minutes(seconds: float) -> str:
    return f"{seconds / 60:.1f} min"


def budget(runs: pd.DataFrame, schedule: int, targets: ValidityTargets,
           methods: list[str]) -> TargetResult:
    """``make run`` and the whole leaderboard, timed by the records' wall-clock seconds.

    Args:
        runs: The protocol's runs.
        schedule: The default number of iterations.
        targets: The thresholds.
        methods: Every registered method (the leaderboard trains each).
    """
    split = split_text(targets.noise_split)
    target = (f"budget: `make run` <= {_minutes(targets.make_run_budget_s)}; whole "
              f"{split} leaderboard ({targets.leaderboard_seeds} seeds) <= "
              f"{targets.leaderboard_budget_s / 3600:g} h, {targets.slots} runs side by side")
    walls = {m: _median_wall(runs, m, targets.noise_split, schedule) for m in methods}
    missing = sorted(m for m, wall in walls.items() if math.isnan(wall))
    make_run_walls = {m: walls.get(m, math.nan) for m in targets.make_run_methods}
    unmeasured = [m for m, wall in make_run_walls.items() if math.isnan(wall)]
    if unmeasured:
        return TargetResult(target, f"no default {split} record of {', '.join(unmeasured)}",
                            None)
    make_run = max(make_run_walls.values())
    measured = f"`make run` about {_minutes(make_run)} (the slower of its runs)"
    if missing:
        return TargetResult(target, f"{measured}; no default {split} record of "
                            f"{', '.join(missing)}", None)
    total = sum(walls.values()) * targets.leaderboard_seeds / targets.slots
    cpus = ", ".join(sorted(set(runs.cpu.dropna()))) or "unknown CPU"
    return TargetResult(target, f"{measured}; leaderboard about {total / 3600:.1f} h "
                        f"(median wall-clock per run; {cpus})",
                        bool(make_run <= targets.make_run_budget_s
                             and total <= targets.leaderboard_budget_s))


def validity_results(runs: pd.DataFrame, schedule: int, methods: list[str],
                     targets: ValidityTargets = ValidityTargets()) -> list[TargetResult]:
    """Every target measured on one protocol's runs.

    Args:
        runs: One protocol's runs (:func:`benchmark.reporting.frame.records_frame`).
        schedule: The protocol's default number of iterations; runs at other schedules
            count only where a target asks for them (the doubled schedule).
        methods: Every registered method.
        targets: The thresholds.
    """
    return [convergence(runs, schedule, targets), label_scarcity(runs, schedule, targets),
            seed_noise(runs, schedule, targets), *representative(runs, schedule, targets),
            budget(runs, schedule, targets, methods)]


def validity_block(runs: pd.DataFrame, protocol: str, schedule: int, methods: list[str],
                   targets: ValidityTargets = ValidityTargets()) -> Block:
    """The validity table as a report block (Markdown, CSV, LaTeX or HTML)."""
    results = validity_results(runs, schedule, methods, targets)
    table = pd.DataFrame({"measured": [r.measured for r in results],
                          "met": [r.met_text for r in results]},
                         index=pd.Index([r.target for r in results], name="target"))
    met = sum(r.met is True for r in results)
    footnotes = [f"{met} of {len(results)} targets met; default schedule {schedule} "
                 "iterations; differences are mIoU points, [95% t-interval] of the paired "
                 "difference over shared seeds, p-values Holm-adjusted over the rows each "
                 "line names."]
    return Block(f"{protocol}: validity targets, from the stored records", table,
                 footnotes=footnotes)
