"""Vectorised sampling helpers (NumPy): no Python loop over rows."""

from __future__ import annotations

import numpy as np


class GroupedSampler:
    """Draw one item per row from the row's group, with fixed item weights.

    Items are sorted by group; each group's cumulative weights are normalised to (g, g + 1], so
    one ``searchsorted`` on ``g + u`` draws from group ``g`` for every row at once. Every group
    that rows ask for must hold at least one item of positive weight.
    """

    def __init__(self, item_group: np.ndarray, item_weight: np.ndarray, n_groups: int) -> None:
        order = np.lexsort((np.arange(len(item_group)), item_group))
        groups = item_group[order]
        weights = item_weight[order].astype(np.float64)
        counts = np.bincount(groups, minlength=n_groups)
        totals = np.bincount(groups, weights=weights, minlength=n_groups)
        cum = np.cumsum(weights)
        starts = np.concatenate(([0], np.cumsum(counts)[:-1]))
        before = np.concatenate(([0.0], cum))[starts]  # cumulative weight before each group
        within = (cum - before[groups]) / np.where(totals[groups] > 0, totals[groups], 1.0)
        last = np.zeros(len(groups), dtype=bool)
        last[np.cumsum(counts)[counts > 0] - 1] = True
        within[last] = 1.0
        self.keys = groups + within
        self.items = order
        self.nonempty = (counts > 0) & (totals > 0)

    def draw(self, rng: np.random.Generator, row_group: np.ndarray) -> np.ndarray:
        if len(row_group) and not self.nonempty[row_group].all():
            raise ValueError("a row asks for an empty group")
        u = rng.random(len(row_group))
        pos = np.searchsorted(self.keys, row_group + u, side="right")
        return self.items[pos]


def categorical(rng: np.random.Generator, p: np.ndarray | list[float], size: int) -> np.ndarray:
    """``size`` draws of category indices with probabilities ``p`` (normalised here)."""
    cum = np.cumsum(np.asarray(p, dtype=np.float64))
    cum /= cum[-1]
    return np.minimum(np.searchsorted(cum, rng.random(size), side="right"), len(cum) - 1)


def group_offsets(counts: np.ndarray) -> np.ndarray:
    """For ragged groups of the given sizes, each element's position within its group."""
    total = int(counts.sum())
    starts = np.repeat(np.cumsum(counts) - counts, counts)
    return np.arange(total) - starts
