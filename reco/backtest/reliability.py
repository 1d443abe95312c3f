"""Reliability of the scenario probabilities: predicted against observed rate by decile.

Arbitration by expected value (reco.scoring.arbitration) weighs each scenario's list by P(the
customer buys a product of it within the horizon), calibrated on the validation window before
the cutoff. The backtest checks that P on the window after it: per scenario, the customers
with a list are cut into deciles of their predicted P (ordered by P, then customer code, so
ties are split evenly), and each decile's mean predicted P is set against the share of its
customers who bought a product of their list in the test window. ``ece`` is the expected
calibration error: the customer-weighted mean of |predicted − observed| over the deciles.
"""

from __future__ import annotations

import polars as pl

SCHEMA = {
    "scenario": pl.String,
    "decile": pl.Int32,
    "n": pl.Int64,
    "predicted": pl.Float64,
    "observed": pl.Float64,
}


def reliability(lists: dict[str, pl.DataFrame], test: pl.LazyFrame, bins: int = 10) -> pl.DataFrame:
    """One row per scenario and decile of predicted P (``SCHEMA``). ``lists``: scenario →
    customer_code, rank, product_key, p (the list's calibrated P, the same on each of its
    rows; null: not calibrated, left out); ``test``: distinct (customer_code, product_key)
    bought in the window."""
    frames = []
    for scenario, items in lists.items():
        if "p" not in items.columns:
            continue
        hits = (
            items.lazy().join(test, on=["customer_code", "product_key"], how="semi").select("customer_code")
        )
        per_customer = (
            items.lazy()
            .filter(pl.col("p").is_not_null())
            .group_by("customer_code")
            .agg(p=pl.col("p").first())
            .join(hits.unique().with_columns(hit=pl.lit(1.0)), on="customer_code", how="left")
            .sort("p", "customer_code")
            .with_columns(decile=(pl.int_range(pl.len()) * bins // pl.len() + 1).cast(pl.Int32))
        )
        frames.append(
            per_customer.group_by("decile")
            .agg(
                n=pl.len().cast(pl.Int64),
                predicted=pl.col("p").mean(),
                observed=pl.col("hit").fill_null(0.0).mean(),
            )
            .select(pl.lit(scenario).alias("scenario"), "decile", "n", "predicted", "observed")
        )
    if not frames:
        return pl.DataFrame(schema=SCHEMA)
    return pl.concat(frames).collect().cast(SCHEMA).sort("scenario", "decile")


def expected_calibration_error(table: pl.DataFrame) -> dict[str, float]:
    """Per scenario: Σ n × |predicted − observed| / Σ n."""
    ece = table.group_by("scenario").agg(
        ece=((pl.col("predicted") - pl.col("observed")).abs() * pl.col("n")).sum() / pl.col("n").sum()
    )
    return {s: round(float(e), 4) for s, e in ece.sort("scenario").iter_rows()}


__all__ = ["reliability", "expected_calibration_error", "SCHEMA"]
