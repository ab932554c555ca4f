"""The main leaderboard: rows x splits, best per column, difference to supervised-only."""

from __future__ import annotations

import pandas as pd

from benchmark.reporting.cells import METRIC_COLUMNS, best_in_column, mean_std_text, summary_tables
from benchmark.reporting.formats import Block
from benchmark.reporting.frame import SUPERVISED, ordered_splits, seed_values, summarize
from benchmark.reporting.paired import (
    PairedComparison,
    TooFewPairs,
    holm_adjusted,
    paired_comparison,
)
from benchmark.runs.protocol_settings import WEIGHT_AVERAGE_LABEL

ABOVE, BELOW = "↑", "↓"
MIXED_MACHINES = "†"

TITLES = {
    "final": "{protocol}: mIoU (%) of the final checkpoint, mean ± std over seeds",
    "best": "{protocol}: best mIoU over periodic validations (optimistic, for reference), "
            "mean ± std over seeds",
}


def versus_supervised(runs: pd.DataFrame, value: str) -> dict[tuple[str, str],
                                                              PairedComparison]:
    """Paired comparison of every row with supervised-only at the same split.

    Rows with fewer than two seeds in common with the ``supervised`` row are left out.
    The rows of one split are one family of tests: their p-values are Holm-adjusted.

    Args:
        runs: One protocol's runs with row labels (``frame.protocol_runs``).
        value: ``miou`` or ``best_miou``.

    Returns:
        ``(row, split) -> comparison of row - supervised``.
    """
    comparisons = {}
    for split in runs.split.unique():
        at_split = runs[runs.split == split]
        if SUPERVISED not in set(at_split.row):
            continue
        baseline = seed_values(runs, SUPERVISED, split, value)
        family = {}
        for row in sorted(set(at_split.row) - {SUPERVISED}):
            try:
                family[row, split] = paired_comparison(
                    seed_values(runs, row, split, value), baseline, row, SUPERVISED)
            except TooFewPairs:
                continue
        comparisons.update(holm_adjusted(family))
    return comparisons


def _marker(comparison: PairedComparison | None) -> str:
    if comparison is None or comparison.direction == 0:
        return ""
    return ABOVE if comparison.direction > 0 else BELOW


def mixed_machine_cells(runs: pd.DataFrame) -> set[tuple[str, str]]:
    """``(row, split)`` cells whose runs were trained with different thread counts or CPU kinds.

    Unknown values (records older than the ``threads`` / ``cpu`` fields) are not counted.
    """
    mixed = set()
    for key, cell in runs.groupby(["row", "split"]):
        for column in ("threads", "cpu"):
            if column in cell and cell[column].dropna().nunique() > 1:
                mixed.add(key)
    return mixed


def with_diverged(summary: pd.DataFrame, runs: pd.DataFrame, value: str) -> pd.DataFrame:
    """``summary`` with a ``diverged`` column: the cell's runs whose ``value`` is NaN.

    Cells where every run diverged are added with ``n`` 0 (``summarize`` drops them).

    Args:
        summary: Output of :func:`~benchmark.reporting.frame.summarize`.
        runs: The runs it summarises.
        value: The column summarised (``miou`` or ``best_miou``).
    """
    nan_runs = runs[runs[value].isna()].groupby(["row", "split"]).size()
    summary = summary.reindex(summary.index.union(nan_runs.index))
    summary["n"] = summary["n"].fillna(0).astype(int)
    summary["diverged"] = nan_runs.reindex(summary.index, fill_value=0).astype(int)
    return summary


def _long_form(summary: pd.DataFrame, best: pd.DataFrame,
               comparisons: dict[tuple[str, str], PairedComparison]) -> pd.DataFrame:
    rows = []
    for (row, split), cell in summary.iterrows():
        versus = comparisons.get((row, split))
        rows.append(dict(
            method=row, split=split, mean=cell["mean"], std=cell["std"], n=int(cell["n"]),
            best=bool(best.loc[row, split]),
            diff_vs_supervised=versus.mean_difference if versus else None,
            ci_low=versus.ci_low if versus else None,
            ci_high=versus.ci_high if versus else None,
            p_value=versus.p_value if versus else None,
            p_value_holm=versus.adjusted_p_value if versus else None,
            shared_seeds=versus.n if versus else None,
            vs_supervised={1: "above", -1: "below", 0: "within noise"}[versus.direction]
            if versus else "", diverged=int(cell["diverged"])))
    frame = pd.DataFrame(rows)
    frame["shared_seeds"] = frame["shared_seeds"].astype("Int64")
    return frame


def leaderboard_block(runs: pd.DataFrame, protocol: str, metric: str = "final") -> Block:
    """The leaderboard of one protocol as a report block.

    Args:
        runs: The protocol's runs with row labels (``frame.protocol_runs``).
        protocol: Protocol name, for the title.
        metric: ``final`` (final checkpoint) or ``best`` (best over validations).

    Returns:
        A block whose cells read ``mean ± std (n=k)`` plus a marker for the difference
        to supervised-only, with the best mean per column emphasised.
    """
    value = METRIC_COLUMNS[metric]
    summary = with_diverged(summarize(runs, value), runs, value)
    splits = ordered_splits(protocol, summary.index.get_level_values("split"))
    means, stds, counts = summary_tables(summary, splits)
    diverged = summary["diverged"].unstack("split").reindex(columns=splits)
    comparisons = versus_supervised(runs, value)
    best = best_in_column(means)
    mixed = mixed_machine_cells(runs)
    table = pd.DataFrame("", index=means.index, columns=splits)
    for row in means.index:
        for split in splits:
            if pd.notna(counts.loc[row, split]):
                table.loc[row, split] = mean_std_text(
                    means.loc[row, split], stds.loc[row, split], int(counts.loc[row, split]),
                    int(diverged.loc[row, split])
                ) + _marker(comparisons.get((row, split))) + (
                    MIXED_MACHINES if (row, split) in mixed else "")
    footnotes = [
        "bold: best mean in the column.",
        f"{ABOVE} / {BELOW}: above / below supervised-only at the same split beyond seed "
        "noise (paired t-test over the seeds both were run with, p < 0.05 after Holm's "
        "correction over the methods of the column; "
        "`python -m benchmark compare METHOD supervised --split S` gives the interval and "
        "the uncorrected p); unmarked: within seed noise, or fewer than 2 shared seeds.",
    ]
    if summary["diverged"].any():
        footnotes.append("n=k of m, j diverged: j of the cell's m runs ended with a NaN mIoU "
                         "(the run diverged); the mean, the spread and the test use the k "
                         "others.")
    footnotes.extend(batch_note(runs) + weights_note(runs))
    if mixed:
        footnotes.append(f"{MIXED_MACHINES}: the cell's runs were trained with different thread "
                         "counts or CPU kinds, which round floats differently; its spread "
                         "includes that (README, reproducibility).")
    return Block(TITLES[metric].format(protocol=protocol) + evaluation_note(runs), table, best,
                 footnotes, _long_form(summary, best, comparisons))


def _batches(runs: pd.DataFrame) -> list[str]:
    pairs = sorted(set(zip(runs["labeled_batch"], runs["unlabeled_batch"])))
    return [f"{int(labeled)} labeled" + (f" + {int(unlabeled)} unlabeled" if unlabeled else "")
            for labeled, unlabeled in pairs]


def batch_note(runs: pd.DataFrame) -> list[str]:
    """The batches per iteration of supervised-only and of the other rows, as a footnote.

    Empty for records without batch sizes or a table without supervised-only rows.
    """
    if "labeled_batch" not in runs or runs["labeled_batch"].isna().all():
        return []
    supervised = runs[runs.method == SUPERVISED]
    others = runs[(runs.method != SUPERVISED) & (runs.unlabeled_batch > 0)]
    if supervised.empty or others.empty:
        return []
    same = set(supervised.labeled_batch) == set(others.labeled_batch)
    return [f"batch per iteration: supervised-only {' or '.join(_batches(supervised))} crops, "
            f"the semi-supervised methods {' or '.join(_batches(others))}"
            + ("; the same labeled batch, so a gain is what the unlabeled images add."
               if same else ".")]


def weights_note(runs: pd.DataFrame) -> list[str]:
    """A footnote naming the averaged weights if any run evaluated them."""
    if "evaluated_network" not in runs:
        return []
    averaged = sorted({name.split(", ", 1)[1] for name in runs.evaluated_network.dropna()
                       if WEIGHT_AVERAGE_LABEL in name})
    if not averaged:
        return []
    return [f"evaluated weights: {' or '.join(averaged)} (an exponential moving average of "
            "each method's evaluated network, README)."]


def evaluation_note(runs: pd.DataFrame) -> str:
    """`` (evaluation: <mode>)`` from the records' evaluation modes, or nothing.

    Records older than the ``eval_mode`` field contribute nothing; several modes in one
    protocol are all listed, so a mixed table says so in its title.
    """
    modes = sorted(set(runs.get("eval_mode", pd.Series(dtype=str))) - {""})
    return f" (evaluation: {', '.join(modes)})" if modes else ""
