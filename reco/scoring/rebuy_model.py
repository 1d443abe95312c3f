"""REBUY's model: the chance that a customer buys one of their own products again.

Features of a (customer, product) the customer bought, all as of a date (docs/scoring.md):

| feature | value |
|---|---|
| frequency | ln(1 + time-decayed orders of the product), half-life ``half_life_days`` |
| orders | ln(1 + orders of the product) |
| recency | 0.5 ** (days since the product's last purchase / the window) |
| due | for a favourite (``min_orders``+ orders): min(days since / usual interval, 2) / 2; else 0 |
| staple | the product's repeat rate: share of its buyers who bought it in 2+ orders (shrunk) |
| popularity | distinct buyers over the popularity window / the most any product has |
| activity | 0.5 ** (days since the customer's last purchase / the window) |

The window is the run's (reco.scoring.rhythm): the campaign horizon, shortened so that at
least as much history lies before it. The log-odds are ``w_baseline + Σ w_f × f``.
:func:`calibrate` learns the weights from the history itself: features as of
``as_of - window``, outcome = bought again in the window up to as_of, a ridge-regularised
logistic regression (Newton steps, NumPy). Everything it reads is before as_of, so a
backtest at a cutoff stays leak-free. With too little history (or ``calibrate = false``) the
configured ``w_*`` are used, and the run says so.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from datetime import date, timedelta

import numpy as np
import polars as pl

from reco.scoring.config import REBUY_FEATURES as FEATURES
from reco.scoring.config import ScoringConfig
from reco.scoring.features import build_history, decay, prepare_products

#: Learning needs at least this many (customer, product) rows, re-purchases and non-re-purchases.
MIN_ROWS, MIN_OUTCOMES = 200, 20
#: Ridge penalty on the standardised weights (the intercept is not penalised).
RIDGE = 1.0


@dataclass(frozen=True)
class RebuyModel:
    #: log-odds weights: "baseline" (the intercept) and one per feature
    weights: dict[str, float]
    #: "calibrated" (learnt from the history) or "configured" (the w_* of the configuration)
    source: str
    #: why the configured weights were used, when they were
    reason: str | None = None
    #: the date the features of the calibration were computed at
    calibrated_as_of: date | None = None
    rows: int = 0
    repurchases: int = 0
    #: the calibration window in days (None when not calibrated)
    window_days: int | None = None

    def as_dict(self) -> dict:
        return {
            "source": self.source,
            "reason": self.reason,
            "weights": self.weights,
            "calibrated_as_of": self.calibrated_as_of.isoformat() if self.calibrated_as_of else None,
            "rows": self.rows,
            "repurchases": self.repurchases,
            "window_days": self.window_days,
        }


def configured(config: ScoringConfig, reason: str | None = None) -> RebuyModel:
    cfg = config.rebuy
    weights = {"baseline": cfg.w_baseline, **{f: getattr(cfg, f"w_{f}") for f in FEATURES}}
    return RebuyModel(weights, "configured", reason)


def repeat_rates(cp: pl.LazyFrame, prior: float) -> pl.LazyFrame:
    """Per product, the share of its buyers who bought it again (in another order), shrunk
    towards the catalogue-wide share with ``prior`` pseudo-buyers: ``pid, repeat_rate``."""
    per = cp.group_by("pid").agg(buyers=pl.len(), repeaters=(pl.col("n_orders") >= 2).sum())
    overall = pl.col("repeaters").sum() / pl.col("buyers").sum()
    return per.select("pid", repeat_rate=(pl.col("repeaters") + prior * overall) / (pl.col("buyers") + prior))


def features(
    cp: pl.LazyFrame,
    customers: pl.LazyFrame,
    rates: pl.LazyFrame,
    products: pl.LazyFrame,
    config: ScoringConfig,
    window_days: int,
) -> pl.LazyFrame:
    """``cid, pid, last_date`` and ``f_<feature>`` for every row of ``cp`` (a History.cp);
    ``window_days`` scales recency and activity."""
    cfg = config.rebuy
    horizon = float(window_days)
    return (
        cp.join(rates, on="pid", how="left")
        .join(products.select("pid", "pop"), on="pid")
        .join(customers.select("cid", "days_since_last"), on="cid")
        .select(
            "cid",
            "pid",
            "last_date",
            f_frequency=(1 + pl.col("decayed_orders")).log(),
            f_orders=(1 + pl.col("n_orders").cast(pl.Float64)).log(),
            f_recency=decay(pl.col("days_since"), horizon),
            f_due=pl.when(pl.col("n_orders") >= cfg.min_orders)
            .then(pl.col("due_ratio").clip(0, 2) / 2)
            .otherwise(0.0),
            f_staple=pl.col("repeat_rate").fill_null(0.0),
            f_popularity=pl.col("pop").fill_null(0.0),
            f_activity=decay(pl.col("days_since_last"), horizon),
        )
    )


def _fit(x: np.ndarray, y: np.ndarray, ridge: float = RIDGE, steps: int = 50) -> np.ndarray:
    """Logistic regression by Newton steps on standardised features; returns the intercept
    followed by one weight per column of ``x``, on the original scale."""
    mean, sd = x.mean(axis=0), x.std(axis=0)
    sd[sd == 0] = 1.0
    z = np.column_stack([np.ones(len(x)), (x - mean) / sd])
    penalty = ridge * np.diag(np.r_[0.0, np.ones(x.shape[1])])
    w = np.zeros(z.shape[1])
    for _ in range(steps):
        p = 1.0 / (1.0 + np.exp(-(z @ w)))
        gradient = z.T @ (y - p) - penalty @ w
        hessian = (z * (p * (1 - p))[:, None]).T @ z + penalty
        step = np.linalg.solve(hessian, gradient)
        w += step
        if np.abs(step).max() < 1e-9:
            break
    coef = w[1:] / sd
    return np.r_[w[0] - (coef * mean).sum(), coef]


def calibrate(
    lines: pl.LazyFrame,
    products: pl.LazyFrame,
    as_of: date,
    config: ScoringConfig,
    window_days: int | None,
) -> RebuyModel:
    """Learn the REBUY weights from ``lines`` (purchase lines strictly before ``as_of``).

    Every k-th customer code (k so that at most ``calibration_customers`` are kept) who bought
    before ``as_of - window_days``; their features as of that date; the outcome is whether
    they bought the product again before ``as_of``. ``window_days`` None (too little history,
    reco.scoring.rhythm): the configured weights."""
    cfg = config.rebuy
    if not cfg.calibrate:
        return configured(config, "calibrate = false")
    if window_days is None:
        return configured(
            config,
            f"too little history for a calibration window of at least "
            f"{config.rhythm.min_window_days} days with as much history before it",
        )
    start = as_of - timedelta(days=window_days)
    before = lines.filter(pl.col("order_date") < start)
    codes = before.select("customer_code").unique().sort("customer_code").collect()
    if codes.height == 0:
        return configured(config, f"no purchase before {start} to learn from")
    sample = codes.gather_every(max(1, math.ceil(codes.height / cfg.calibration_customers)))
    past = prepare_products(products, before, start, config)
    history = build_history(
        before.join(sample.lazy(), on="customer_code", how="semi"), past, sample.lazy(), start, config
    )
    x = features(
        history.cp.lazy(),
        history.customers.lazy(),
        repeat_rates(history.cp.lazy(), cfg.repeat_prior),
        past.lazy(),
        config,
        window_days,
    )
    bought = (
        lines.filter(pl.col("order_date") >= start)
        .join(sample.lazy(), on="customer_code", how="semi")
        .select("customer_code", "product_key")
        .unique()
        .join(past.lazy().select("product_key", "pid"), on="product_key")
        .join(history.customers.lazy().select("customer_code", "cid"), on="customer_code")
        .select("cid", "pid", y=pl.lit(1.0))
    )
    data = (
        x.join(bought, on=["cid", "pid"], how="left")
        .with_columns(pl.col("y").fill_null(0.0))
        .sort("cid", "pid")
        .collect()
    )
    positives = int(data["y"].sum())
    if data.height < MIN_ROWS or min(positives, data.height - positives) < MIN_OUTCOMES:
        return configured(
            config,
            f"too little history to learn from: {data.height} products bought before {start}, "
            f"{positives} bought again by {as_of} (need {MIN_ROWS} and {MIN_OUTCOMES} of each outcome)",
        )
    w = _fit(data.select([f"f_{f}" for f in FEATURES]).to_numpy(), data["y"].to_numpy())
    weights = {"baseline": round(float(w[0]), 6)} | {
        f: round(float(v), 6) for f, v in zip(FEATURES, w[1:], strict=True)
    }
    return RebuyModel(weights, "calibrated", None, start, data.height, positives, window_days)
