"""How sure a comparison is: bootstrap intervals over starts and noise seeds.

A score is a median over a run's rows (each start under each noise seed), a row that
diverged counting as +inf. Its spread is a percentile bootstrap: the rows resampled with
replacement :data:`RESAMPLES` times, the median of each resample, and the 2.5th and 97.5th
percentiles of those medians for a 95% interval.

Two optimizers run from the same starts under the same noise (common random numbers), so
their rows pair up. Whether one beats the other is a *paired* bootstrap: the same resampled
rows for both, the difference of their medians each time; a winner is named only when the
95% interval of that difference excludes 0. Otherwise it is a tie.

The resampling is seeded, so the same values always give the same interval.
"""

from __future__ import annotations

import numpy as np

RESAMPLES = 2000
LEVEL = 0.95


def _medians(values: np.ndarray, picks: np.ndarray) -> np.ndarray:
    # +inf (a diverged row) sorts last, so medians of resamples stay exact; NaN would not.
    return np.median(values[picks], axis=-1)


def _picks(count: int, seed: int, resamples: int) -> np.ndarray:
    return np.random.default_rng(seed).integers(0, count, size=(resamples, count))


def bootstrap_interval(values: np.ndarray, *, level: float = LEVEL, resamples: int = RESAMPLES,
                       seed: int = 0) -> tuple[float, float, float]:
    """``(median, low, high)``: the median of ``values`` and its percentile-bootstrap interval.

    ``values`` holds one number per row (+inf for a diverged row; NaN is read as +inf). One
    value gives a zero-width interval at it.

    >>> bootstrap_interval(np.array([1.0, 2.0, 3.0, 4.0, 100.0]))[0]
    3.0
    """
    values = np.where(np.isnan(values), np.inf, np.asarray(values, dtype=np.float64))
    if not values.size:
        return np.nan, np.nan, np.nan
    medians = _medians(values, _picks(len(values), seed, resamples))
    tail = (1 - level) / 2 * 100
    low = np.percentile(medians, tail, method="lower")
    high = np.percentile(medians, 100 - tail, method="higher")
    return float(np.median(values)), float(low), float(high)


def paired_difference(first: np.ndarray, second: np.ndarray, *, level: float = LEVEL, resamples: int = RESAMPLES,
                      seed: int = 0) -> tuple[float, float]:
    """The bootstrap interval ``(low, high)`` of median(first) - median(second), rows resampled in pairs.

    ``first[i]`` and ``second[i]`` come from the same start under the same noise seed. Where
    both medians of a resample are +inf the difference counts as 0 (neither reached anything).
    """
    first = np.where(np.isnan(first), np.inf, np.asarray(first, dtype=np.float64))
    second = np.where(np.isnan(second), np.inf, np.asarray(second, dtype=np.float64))
    if first.shape != second.shape or first.ndim != 1:
        raise ValueError(f"paired rows need two 1-D arrays of one length, got {first.shape} and {second.shape}")
    picks = _picks(len(first), seed, resamples)
    with np.errstate(invalid="ignore"):
        difference = _medians(first, picks) - _medians(second, picks)
    difference = np.where(np.isnan(difference), 0.0, difference)
    tail = (1 - level) / 2 * 100
    return (float(np.percentile(difference, tail, method="lower")),
            float(np.percentile(difference, 100 - tail, method="higher")))


def winner(values: dict[str, np.ndarray], *, lower_is_better: bool = True, level: float = LEVEL,
           seed: int = 0) -> str | None:
    """The label whose median is best and surely so, or None for a tie.

    The best median's label wins when the paired interval of its difference to every other
    label's excludes 0; any overlap makes it a tie. One label alone wins.
    """
    if not values:
        return None
    sign = 1.0 if lower_is_better else -1.0
    medians = {label: sign * float(np.median(np.where(np.isnan(rows), np.inf, rows))) for label, rows in values.items()}
    best = min(medians, key=lambda label: medians[label])
    for label, rows in values.items():
        if label == best:
            continue
        low, high = paired_difference(sign * values[best], sign * rows, level=level, seed=seed)
        if not high < 0:
            return None
    return best
