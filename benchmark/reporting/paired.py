"""Paired comparison of two rows over the seeds both were run with (scipy's t-test).

Several rows compared with one baseline at one split are a family of tests;
:func:`holm_adjusted` applies Holm's step-down correction (statsmodels) to it, so the
leaderboard's markers keep the family-wise error rate at the significance level.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np
import pandas as pd
from scipy import stats

from benchmark.errors import BenchmarkError

SIGNIFICANCE = 0.05


class TooFewPairs(BenchmarkError):
    """Fewer than two seeds are shared, so seed noise cannot be estimated."""


@dataclass(frozen=True)
class PairedComparison:
    """``a - b`` over shared seeds: mean difference, t-interval and paired t-test.

    Attributes:
        a: Name of the first row.
        b: Name of the second row.
        seeds: The shared seeds, ascending.
        differences: ``a - b`` per shared seed.
        mean_difference: Mean of ``differences``.
        ci_low: Lower end of the two-sided t confidence interval of the mean difference.
        ci_high: Upper end.
        p_value: Two-sided paired t-test p-value (NaN when every difference is equal).
        confidence: Confidence level of the interval.
        adjusted_p_value: ``p_value`` corrected for the other tests of its family (Holm),
            None for a comparison on its own; ``direction`` uses it when set.
        diverged: ``(seed, row)`` per shared seed left out because that row's value is
            NaN there (the run diverged), ascending by seed.
    """

    a: str
    b: str
    seeds: tuple[int, ...]
    differences: tuple[float, ...]
    mean_difference: float
    ci_low: float
    ci_high: float
    p_value: float
    confidence: float = 1 - SIGNIFICANCE
    adjusted_p_value: float | None = None
    diverged: tuple[tuple[int, str], ...] = ()

    @property
    def n(self) -> int:
        """Number of shared seeds."""
        return len(self.seeds)

    @property
    def direction(self) -> int:
        """+1 if ``a`` beats ``b`` beyond seed noise, -1 if it loses beyond it, else 0."""
        p_value = self.p_value if self.adjusted_p_value is None else self.adjusted_p_value
        if math.isnan(p_value) or p_value >= 1 - self.confidence:
            return 0
        return 1 if self.mean_difference > 0 else -1

    @property
    def verdict(self) -> str:
        """The outcome in words."""
        if math.isnan(self.p_value):
            return (f"{self.a} - {self.b} is {self.mean_difference:+.2f} on every shared seed: "
                    "no seed-to-seed variation to judge it against")
        if self.direction > 0:
            return f"{self.a} > {self.b} beyond seed noise"
        if self.direction < 0:
            return f"{self.a} < {self.b} beyond seed noise"
        return f"{self.a} and {self.b} differ by no more than seed noise"


def paired_comparison(a_by_seed: pd.Series, b_by_seed: pd.Series, a: str, b: str,
                      confidence: float = 1 - SIGNIFICANCE) -> PairedComparison:
    """Compare two rows on the seeds both have, leaving out seeds where either diverged.

    Args:
        a_by_seed: Values of the first row indexed by seed (NaN: the run diverged).
        b_by_seed: Values of the second row indexed by seed.
        a: Name of the first row.
        b: Name of the second row.
        confidence: Level of the t-interval; the test's threshold is ``1 - confidence``.

    Returns:
        The comparison of ``a - b``; ``diverged`` names the shared seeds left out.

    Raises:
        TooFewPairs: If fewer than two shared seeds have a value on both sides.
    """
    shared = sorted(set(a_by_seed.index) & set(b_by_seed.index))
    diverged = tuple((int(seed), name) for seed in shared
                     for name, values in ((a, a_by_seed), (b, b_by_seed))
                     if math.isnan(float(values.loc[seed])))
    seeds = [seed for seed in shared if seed not in {s for s, _ in diverged}]
    if len(seeds) < 2:
        both = f"seed {seeds[0]}" if seeds else "no seed"
        left_out = f" ({excluded_text(diverged)})" if diverged else ""
        raise TooFewPairs(f"{a} and {b} share {both}{left_out}; a paired comparison needs at "
                          "least 2 shared seeds (run both with the same --seeds)")
    a_values = a_by_seed.loc[seeds].to_numpy(dtype=float)
    b_values = b_by_seed.loc[seeds].to_numpy(dtype=float)
    differences = a_values - b_values
    mean = float(differences.mean())
    if np.allclose(differences, differences[0]):
        low = high = mean
        p_value = math.nan
    else:
        test = stats.ttest_rel(a_values, b_values)
        interval = test.confidence_interval(confidence)
        low, high, p_value = float(interval.low), float(interval.high), float(test.pvalue)
    return PairedComparison(a, b, tuple(int(s) for s in seeds),
                            tuple(float(d) for d in differences), mean, low, high, p_value,
                            confidence, diverged=diverged)


def excluded_text(diverged: tuple[tuple[int, str], ...]) -> str:
    """``excluded seed 2 (unimatch diverged: NaN mIoU)`` for the seeds a comparison left out.

    Args:
        diverged: ``(seed, row)`` pairs, as in :attr:`PairedComparison.diverged`.
    """
    by_seed: dict[int, list[str]] = {}
    for seed, name in diverged:
        by_seed.setdefault(seed, []).append(name)
    parts = [f"seed {seed} ({' and '.join(names)} diverged: NaN mIoU)"
             for seed, names in by_seed.items()]
    return "excluded " + ", ".join(parts)


def holm_adjusted(family: dict, alpha: float = SIGNIFICANCE) -> dict:
    """The comparisons of ``family`` with Holm-adjusted p-values (statsmodels).

    Args:
        family: Key -> :class:`PairedComparison`, one family of tests (e.g. every method
            against supervised-only at one split). Comparisons without a p-value (no
            seed-to-seed variation) are not tests and keep None.
        alpha: Family-wise error rate.

    Returns:
        The same keys, each comparison with ``adjusted_p_value`` set.
    """
    from dataclasses import replace

    from statsmodels.stats.multitest import multipletests

    tested = [key for key, c in family.items() if not math.isnan(c.p_value)]
    adjusted = {}
    if tested:
        _, corrected, _, _ = multipletests([family[k].p_value for k in tested], alpha=alpha,
                                           method="holm")
        adjusted = dict(zip(tested, (float(p) for p in corrected)))
    return {key: replace(c, adjusted_p_value=adjusted.get(key)) for key, c in family.items()}
