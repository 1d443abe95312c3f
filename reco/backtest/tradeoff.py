"""The trade-off between re-orders and discovery (``reco backtest --tradeoff``).

Arbitration by expected value gives each customer the scenario of highest
P × incrementality × value (docs/scoring.md). REBUY's incrementality prior
(``[arbitration] prior_rebuy``, 0.10 against 0.30 for the discovery scenarios) is the one
knob that trades re-orders (likely purchases the customer would mostly make anyway) for
discovery (fewer, more incremental ones): lower, customers leave REBUY for CROSS_SELL, UPSELL
and NURTURE; higher, REBUY takes them back.

Each point of the curve is the platform's assignment scored with one value of that prior and
the assignment guard's fallback off (``[validation] guard = false``: the guard judges hit@3
and would otherwise hand REPEAT to every point that trades hit-rate for discovery; its verdict
is still recorded with the point). The default configuration is always one of the points.
The baselines are points of the same chart; everything is evaluated on the same customers
with the same bootstrap resamples, so intervals are paired.
"""

from __future__ import annotations

from dataclasses import replace

import polars as pl

from reco.backtest import metrics
from reco.scoring import score

#: REBUY's incrementality prior at the points of the curve; the configuration's own value is
#: added when it is not one of them
PRIORS_REBUY = (0.01, 0.03, 0.05, 0.10, 0.20, 0.30, 1.0)
#: the method name of a point in the evaluation table
POINT = "PLATFORM prior_rebuy={:g}"


def settings(config) -> list[float]:
    """The values of ``prior_rebuy`` evaluated, ascending, the configuration's among them."""
    return sorted({*PRIORS_REBUY, config.arbitration.prior_rebuy})


def point_config(config, prior_rebuy: float):
    """``config`` with REBUY's incrementality prior at ``prior_rebuy`` and the guard's
    fallback off."""
    return replace(
        config,
        arbitration=replace(config.arbitration, prior_rebuy=prior_rebuy),
        validation=replace(config.validation, guard=False),
    )


def score_points(inputs, config) -> dict[float, tuple[pl.DataFrame, str | None]]:
    """Per value of ``prior_rebuy``: the assignment's recommendations (customer_code,
    scenario, rank, product_key) and what the guard would have chosen (``assignment``,
    ``priority``, ``repeat``, ``pop``; None without a validation window)."""
    out = {}
    for prior in settings(config):
        result = score(inputs, point_config(config, prior), apply_contact_rules=False)
        guard = ((result.counts.get("validation") or {}).get("assignment") or {}).get("choice")
        items = result.items.collect() if isinstance(result.items, pl.LazyFrame) else result.items
        out[prior] = (items.select("customer_code", "scenario", "rank", "product_key"), guard)
    return out


def _interval(rows: dict, method: str, metric: str) -> dict:
    row = rows.get((method, metric)) or {}
    return {
        metric: row.get("value"),
        f"{metric}_low": row.get("ci_low"),
        f"{metric}_high": row.get("ci_high"),
    }


def curve(
    points: dict[float, tuple[pl.DataFrame, str | None]],
    baseline_table: pl.DataFrame,
    population: pl.DataFrame,
    test: pl.LazyFrame,
    history: pl.LazyFrame,
    catalogue_size: int,
    default_prior: float,
    *,
    n_resamples: int = 1000,
    seed: int = 0,
) -> pl.DataFrame:
    """One row per point (the platform at each ``prior_rebuy``, then each baseline of
    ``baseline_table``'s overall scope): hit@3 and new-item hit@3 with their 95% intervals,
    and for the platform's points the customers per scenario and the guard's verdict.
    ``population``: the eligible customers evaluated (customer_code)."""
    recs = pl.concat(
        [
            items.select(
                method=pl.lit(POINT.format(prior)),
                customer_code=pl.col("customer_code").cast(pl.String),
                rank=pl.col("rank").cast(pl.Int32),
                product_key=pl.col("product_key").cast(pl.String),
            )
            for prior, (items, _) in points.items()
        ]
    )
    everyone = population.select("customer_code").with_columns(scope=pl.lit(metrics.OVERALL))
    table = metrics.evaluate(
        recs.lazy(), everyone.lazy(), test, history, catalogue_size, n_resamples=n_resamples, seed=seed
    )
    rows = {
        (r["method"], r["metric"]): r
        for t in (table, baseline_table.filter(scope=metrics.OVERALL))
        for r in t.filter(scope=metrics.OVERALL).iter_rows(named=True)
    }
    out = []
    for prior, (items, guard) in points.items():
        method = POINT.format(prior)
        mix = (
            items.join(everyone, on="customer_code", how="semi")
            .group_by("scenario")
            .agg(pl.col("customer_code").n_unique())
            .sort("customer_code", descending=True)
        )
        out.append(
            {
                "method": method,
                "prior_rebuy": prior,
                "default": prior == default_prior,
                "guard": guard,
                **_interval(rows, method, "hit"),
                **_interval(rows, method, "new_item_hit"),
                "scenarios": " · ".join(f"{s} {n:,}" for s, n in mix.iter_rows()),
            }
        )
    baselines = sorted({m for m, _ in rows} - {POINT.format(p) for p in points})
    for method in baselines:
        out.append(
            {
                "method": method,
                "prior_rebuy": None,
                "default": False,
                "guard": None,
                **_interval(rows, method, "hit"),
                **_interval(rows, method, "new_item_hit"),
                "scenarios": None,
            }
        )
    return pl.DataFrame(
        out,
        schema={
            "method": pl.String,
            "prior_rebuy": pl.Float64,
            "default": pl.Boolean,
            "guard": pl.String,
            "hit": pl.Float64,
            "hit_low": pl.Float64,
            "hit_high": pl.Float64,
            "new_item_hit": pl.Float64,
            "new_item_hit_low": pl.Float64,
            "new_item_hit_high": pl.Float64,
            "scenarios": pl.String,
        },
    )
