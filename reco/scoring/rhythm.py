"""The purchase rhythm: windows and thresholds that follow the retailer's and each customer's
cycle, bounded by the history there is (docs/scoring.md, "Horizon and rhythm").

- A customer's *cycle* is the median number of days between their distinct order days, used
  once they have ``rhythm.min_gaps`` gaps; the *retailer's cycle* is the median of the
  cycles of every customer with at least one gap.
- *Lapsed*: no purchase for more than
  ``clip(lapsed_cycles × cycle, lapsed_min_days, min(lapsed_max_days, history / 2))`` days,
  with the customer's own cycle when they have one, the retailer's otherwise.
- The *window* of REBUY's calibration and of the self-validation is
  ``min(horizon_days, ⌊history / 2⌋)``: the campaign horizon, shortened so that at least as
  much history lies before it as in it; shorter than ``min_window_days`` it is not used.

``history`` is the number of days from the first purchase to as_of.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass
from datetime import date

import polars as pl

from reco.scoring.config import ScoringConfig


@dataclass(frozen=True)
class Rhythm:
    """The values one run derived (recorded in the run's counts_json under ``rhythm``)."""

    horizon_days: int
    #: days from the first purchase to as_of
    history_days: int
    #: median over customers of their median days between order days (None: nobody bought twice)
    retailer_cycle_days: float | None
    #: customers whose own cycle sets their lapsed threshold
    customers_with_own_cycle: int
    #: the lapsed threshold of a customer without their own cycle
    lapsed_days: int
    #: upper bound of every lapsed threshold: min(lapsed_max_days, history / 2)
    lapsed_cap_days: int
    #: REBUY's calibration and the self-validation window (None: too little history)
    window_days: int | None

    def as_dict(self) -> dict:
        return asdict(self)


def window_days(history_days: int, config: ScoringConfig) -> int | None:
    """``min(horizon_days, ⌊history_days / 2⌋)``, or None below ``min_window_days``."""
    days = min(config.rhythm.horizon_days, history_days // 2)
    return days if days >= config.rhythm.min_window_days else None


def customer_cycles(lines: pl.LazyFrame) -> pl.LazyFrame:
    """Per customer with history: ``customer_code, n_gaps, cycle`` (median days between their
    distinct order days; null without a gap)."""
    return (
        lines.select("customer_code", "order_date")
        .unique()
        .sort("customer_code", "order_date")
        .with_columns(gap=pl.col("order_date").diff().over("customer_code").dt.total_days())
        .group_by("customer_code")
        .agg(n_gaps=pl.col("gap").count().cast(pl.UInt32), cycle=pl.col("gap").median())
    )


def derive(lines: pl.LazyFrame, as_of: date, config: ScoringConfig) -> tuple[Rhythm, pl.DataFrame]:
    """The run's rhythm from ``lines`` (purchase lines before ``as_of``), and per customer
    ``customer_code, cycle_days`` (own cycle or null) and ``lapsed_after`` (days)."""
    r = config.rhythm
    cycles = customer_cycles(lines).collect()
    first = lines.select(pl.col("order_date").min()).collect().item()
    history_days = (as_of - first).days if first is not None else 0
    with_gap = cycles.filter(pl.col("n_gaps") >= 1)
    retailer = float(with_gap["cycle"].median()) if with_gap.height else None
    cap = max(r.lapsed_min_days, min(r.lapsed_max_days, history_days // 2))

    def threshold(cycle: pl.Expr) -> pl.Expr:
        return (r.lapsed_cycles * cycle).round().clip(r.lapsed_min_days, cap).cast(pl.Int32)

    default = int(min(max(round(r.lapsed_cycles * retailer), r.lapsed_min_days), cap)) if retailer else cap
    own = pl.when(pl.col("n_gaps") >= r.min_gaps).then(pl.col("cycle"))
    per_customer = cycles.select(
        "customer_code",
        cycle_days=own,
        lapsed_after=pl.coalesce(threshold(own), pl.lit(default, pl.Int32)),
    )
    rhythm = Rhythm(
        horizon_days=r.horizon_days,
        history_days=history_days,
        retailer_cycle_days=retailer,
        customers_with_own_cycle=int(per_customer["cycle_days"].is_not_null().sum()),
        lapsed_days=default,
        lapsed_cap_days=cap,
        window_days=window_days(history_days, config),
    )
    return rhythm, per_customer
