"""Bootstrap intervals: a mean's 95% interval over rows, and a paired difference's.

Rows are resampled with replacement (percentile bootstrap, ``resamples`` draws, a fixed
seed so a table is reproducible). A paired difference resamples the same rows for both
sides, so it measures one system against another on the same articles.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import torch

RESAMPLES = 2000
LEVEL = 0.95


@dataclass(frozen=True)
class Interval:
    """A mean and its bootstrap interval at ``level``."""

    mean: float
    low: float
    high: float
    rows: int
    level: float = LEVEL

    def excludes_zero(self) -> bool:
        return self.low > 0 or self.high < 0

    def to_dict(self) -> dict[str, float]:
        return {"mean": self.mean, "low": self.low, "high": self.high, "rows": self.rows}

    def text(self, digits: int = 2) -> str:
        return f"{self.mean:.{digits}f} [{self.low:.{digits}f}, {self.high:.{digits}f}]"


def bootstrap_mean(
    values: Sequence[float], resamples: int = RESAMPLES, level: float = LEVEL, seed: int = 0
) -> Interval:
    """The mean of ``values`` and its percentile bootstrap interval."""
    if not values:
        raise ValueError("no values to bootstrap")
    if not 0 < level < 1:
        raise ValueError(f"level must be in (0, 1), got {level}")
    data = torch.tensor([float(v) for v in values], dtype=torch.float64)
    generator = torch.Generator().manual_seed(seed)
    picks = torch.randint(len(data), (resamples, len(data)), generator=generator)
    means = data[picks].mean(dim=1)
    tail = (1 - level) / 2
    low, high = torch.quantile(means, torch.tensor([tail, 1 - tail], dtype=torch.float64))
    return Interval(data.mean().item(), low.item(), high.item(), len(data), level)


def paired_difference(
    first: Sequence[float],
    second: Sequence[float],
    resamples: int = RESAMPLES,
    level: float = LEVEL,
    seed: int = 0,
) -> Interval:
    """``first - second`` row by row (the same rows, in the same order), bootstrapped."""
    if len(first) != len(second):
        raise ValueError(f"paired rows differ in number: {len(first)} and {len(second)}")
    return bootstrap_mean(
        [a - b for a, b in zip(first, second, strict=True)], resamples, level, seed
    )
