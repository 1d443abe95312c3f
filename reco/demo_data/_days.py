"""Dates as int64 days since 1970-01-01, so that NumPy handles them for all rows at once."""

from __future__ import annotations

from datetime import date

import numpy as np

EPOCH = date(1970, 1, 1)


def epoch_day(d: date) -> int:
    return (d - EPOCH).days


def year_of(days: np.ndarray) -> np.ndarray:
    return days.astype("datetime64[D]").astype("datetime64[Y]").astype(np.int64) + 1970


def month_of(days: np.ndarray) -> np.ndarray:
    """1–12."""
    return days.astype("datetime64[D]").astype("datetime64[M]").astype(np.int64) % 12 + 1
