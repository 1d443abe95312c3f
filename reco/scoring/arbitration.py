"""Arbitration by expected value (docs/scoring.md, "Arbitration"): which scenario each customer
gets, and the expected value that becomes the score.

For a customer and a scenario whose list they have:

    EV = P(buys from the list within the horizon) × incrementality(scenario, segment) × value

- **P** is the list's raw score (:func:`list_raw`) calibrated per scenario on the validation
  window (:func:`calibrate`): decile bins of the raw score, each bin's observed rate shrunk to
  the scenario's overall rate with ``calibration_prior_n`` pseudo-customers, then made
  monotone (pool-adjacent-violators).
- **incrementality** is the share of those purchases the campaign causes: a prior per
  scenario from the configuration, moved to the posterior of measured runs' control groups
  when there are any (:func:`incrementality`), per scenario and RFM segment, bounded.
- **value** is the list's mean product price (1 when no price is known).

:func:`arbitrate` gives each customer the scenario of highest EV, then honours the marketer's
constraints (scenarios turned off, minimum and maximum shares) by greedy moves of the
customers whose move loses the least EV, and reports the loss. Pure functions of frames: no
database, no loop over customers.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from statistics import NormalDist

import numpy as np
import polars as pl

from reco.scoring.config import ScoringConfig
from reco.vocab import SCENARIOS

# -- calibration -------------------------------------------------------------------------------


@dataclass(frozen=True)
class Calibration:
    """Raw list score → probability of a purchase from the list within the horizon, for one
    scenario. Bin b holds raw scores in (edges[b-1], edges[b]] (open ends at both sides)."""

    scenario: str
    edges: tuple[float, ...]
    p: tuple[float, ...]
    n: tuple[int, ...]
    observed: tuple[float, ...]
    rate: float
    customers: int
    #: the customer propensity the raw score is weighed by (:func:`list_raw`), or None
    weighed_by: str | None = None

    def apply(self, raw: pl.Expr) -> pl.Expr:
        """The calibrated probability of each raw score (a Polars expression)."""
        idx = pl.lit(pl.Series(self.edges, dtype=pl.Float64)).search_sorted(raw, side="left")
        return pl.lit(pl.Series(self.p, dtype=pl.Float64)).gather(idx)

    def as_dict(self) -> dict:
        return {
            "customers": self.customers,
            "rate": round(self.rate, 4),
            "weighed_by": self.weighed_by,
            "bins": [
                {
                    "upper": round(self.edges[i], 6) if i < len(self.edges) else None,
                    "n": self.n[i],
                    "observed": round(self.observed[i], 4),
                    "p": round(self.p[i], 4),
                }
                for i in range(len(self.p))
            ],
        }


def _pav(values: np.ndarray, weights: np.ndarray) -> np.ndarray:
    """Pool-adjacent-violators: the weighted least-squares non-decreasing fit of ``values``."""
    blocks: list[list[float]] = []  # [value, weight, length]
    for v, w in zip(values, weights, strict=True):
        blocks.append([float(v), float(w), 1])
        while len(blocks) > 1 and blocks[-2][0] > blocks[-1][0]:
            v2, w2, n2 = blocks.pop()
            v1, w1, n1 = blocks.pop()
            blocks.append([(v1 * w1 + v2 * w2) / (w1 + w2), w1 + w2, n1 + n2])
    return np.concatenate([np.full(n, v) for v, _, n in blocks]) if blocks else np.zeros(0)


def calibrate(
    scenario: str, raw: np.ndarray, hit: np.ndarray, bins: int, prior_n: float, weighed_by: str | None = None
) -> Calibration | None:
    """Binned, shrunk, monotone calibration of ``raw`` list scores against ``hit`` (1: the
    customer bought from the list in the window). None without any customer."""
    raw, hit = np.asarray(raw, dtype=float), np.asarray(hit, dtype=float)
    if raw.size == 0:
        return None
    qs = np.quantile(raw, np.arange(1, bins) / bins) if bins > 1 else np.zeros(0)
    edges = np.unique(qs)
    idx = np.searchsorted(edges, raw, side="left")
    k = len(edges) + 1
    n = np.bincount(idx, minlength=k).astype(float)
    h = np.bincount(idx, weights=hit, minlength=k)
    rate = float(hit.mean())
    observed = np.divide(h, n, out=np.full(k, rate), where=n > 0)
    shrunk = (h + prior_n * rate) / (n + prior_n) if prior_n > 0 else observed
    p = np.clip(_pav(shrunk, n + prior_n), 0.0, 1.0)
    return Calibration(
        scenario,
        tuple(float(e) for e in edges),
        tuple(float(x) for x in p),
        tuple(int(x) for x in n),
        tuple(float(x) for x in observed),
        rate,
        int(raw.size),
        weighed_by,
    )


#: The customer's own propensity (reco.scoring.features.propensities) a scenario's raw list
#: score may be weighed by: a list of products new to the customer sells to those who have
#: lately been buying new products (at a higher tier, for UPSELL).
PROPENSITY = {"CROSS_SELL": "novelty", "UPSELL": "uptrade"}


def calibrate_list(
    scenario: str,
    top: pl.DataFrame,
    hit: pl.DataFrame,
    customers: pl.LazyFrame,
    bins: int,
    prior_n: float,
    confidence: float,
) -> Calibration | None:
    """The calibration of ``scenario``'s lists (``top``: the picks; ``hit``: ``cid`` of the
    customers who bought from theirs) on the raw score as it is or, for a scenario of
    :data:`PROPENSITY`, weighed by the customer's propensity. The propensity is kept only when
    it fits the hits better, as self-validation keeps a learnt choice: the one-sided lower
    bound at ``confidence`` of the paired mean difference of squared errors (plain − weighed,
    per customer; the Brier score) is above 0. So a propensity that does not tell this
    retailer's buyers apart is not used."""

    def fit(weighed_by: str | None) -> tuple[Calibration | None, np.ndarray]:
        raw = list_raw(top, customers, weighed_by).join(
            hit.lazy().with_columns(h=pl.lit(1.0)), on="cid", how="left"
        )
        raw = raw.with_columns(pl.col("h").fill_null(0.0)).sort("cid").collect()
        cal = calibrate(scenario, raw["raw"].to_numpy(), raw["h"].to_numpy(), bins, prior_n, weighed_by)
        if cal is None:
            return None, np.zeros(0)
        return cal, raw.select((cal.apply(pl.col("raw")) - pl.col("h")) ** 2).to_series().to_numpy()

    plain, plain_err = fit(None)
    if plain is None or scenario not in PROPENSITY:
        return plain
    weighed, weighed_err = fit(PROPENSITY[scenario])
    d = plain_err - weighed_err
    if len(d) < 2:
        return plain
    lower = d.mean() - NormalDist().inv_cdf(confidence) * d.std(ddof=1) / math.sqrt(len(d))
    return weighed if lower > 0 else plain


def list_raw(
    top: pl.LazyFrame | pl.DataFrame, customers: pl.LazyFrame, weighed_by: str | None = None
) -> pl.LazyFrame:
    """One raw score per customer's list (``cid, raw``) from its scenario picks (``fill`` 0):
    for REBUY's model (its scores are log-odds, ``c_baseline`` present) the chance that at
    least one is bought again, 1 − Π(1 − σ(score)); otherwise the sum of the scores, times
    the customer's propensity ``weighed_by`` (a column of ``customers``, by ``cid``; 0 for a
    customer without one) when given."""
    top = top.lazy()
    picks = top.filter(pl.col("fill") == 0) if "fill" in top.collect_schema() else top
    if "c_baseline" in top.collect_schema():
        p = 1 / (1 + (-pl.col("score")).exp())
        return picks.group_by("cid").agg(raw=1 - (1 - p).product())
    raw = picks.group_by("cid").agg(raw=pl.col("score").sum())
    if weighed_by is None:
        return raw
    rate = customers.select("cid", rate=weighed_by)
    return raw.join(rate, on="cid", how="left").select(
        "cid", raw=pl.col("raw") * pl.col("rate").fill_null(0.0)
    )


def list_value(top: pl.LazyFrame | pl.DataFrame, products: pl.DataFrame) -> pl.LazyFrame:
    """``cid, value``: the mean price of the products on each list; the median price of the
    active catalogue where none is known, 1 where no price is known at all."""
    prices = products.lazy().select("pid", "price")
    known = products.filter("is_active")["price"].drop_nulls()
    default = float(known.median()) if known.len() else 1.0
    return (
        top.lazy()
        .join(prices, on="pid", how="left")
        .group_by("cid")
        .agg(value=pl.col("price").mean().fill_null(default).cast(pl.Float64))
    )


# -- incrementality ------------------------------------------------------------------------------

INCREMENTALITY_SCHEMA = {
    "scenario": pl.String,
    "segment": pl.String,
    "incrementality": pl.Float64,
    "source": pl.String,
    "prior": pl.Float64,
    "measured": pl.Float64,
    "n_treated": pl.Int64,
    "n_control": pl.Int64,
}


def prior(config: ScoringConfig, scenario: str) -> float:
    return getattr(config.arbitration, f"prior_{scenario.lower()}")


def incrementality(config: ScoringConfig, outcomes: pl.DataFrame | None) -> pl.DataFrame:
    """Per scenario (``segment`` null) and per (scenario, RFM segment): the incrementality
    used, its ``source`` ("prior" or "posterior") and the measurement behind it.

    ``outcomes``: one row per measured customer of past runs with ``scenario``, ``segment``,
    ``grp`` (treatment | control) and ``bought`` (bought from their list in the window). The
    measured incrementality is 1 − rate(control) / rate(treatment), the share of the treated
    purchases the campaign caused; it is shrunk to the prior with ``prior_n`` pseudo-customers
    against n = min(treated, control), a segment's to its scenario's value, and bounded to
    [``incrementality_min``, ``incrementality_max``]."""
    a = config.arbitration
    lo, hi = a.incrementality_min, a.incrementality_max
    base = pl.DataFrame(
        {"scenario": list(SCENARIOS), "prior": [prior(config, s) for s in SCENARIOS]},
        schema={"scenario": pl.String, "prior": pl.Float64},
    )
    if outcomes is None or outcomes.height == 0:
        return base.select(
            "scenario",
            segment=pl.lit(None, pl.String),
            incrementality=pl.col("prior").clip(lo, hi),
            source=pl.lit("prior"),
            prior="prior",
            measured=pl.lit(None, pl.Float64),
            n_treated=pl.lit(0, pl.Int64),
            n_control=pl.lit(0, pl.Int64),
        )

    def measure(keys: list[str]) -> pl.LazyFrame:
        return (
            outcomes.lazy()
            .group_by(keys)
            .agg(
                n_treated=(pl.col("grp") == "treatment").sum().cast(pl.Int64),
                n_control=(pl.col("grp") == "control").sum().cast(pl.Int64),
                rate_t=pl.col("bought").filter(pl.col("grp") == "treatment").cast(pl.Float64).mean(),
                rate_c=pl.col("bought").filter(pl.col("grp") == "control").cast(pl.Float64).mean(),
            )
            .with_columns(
                measured=pl.when(pl.col("rate_t") > 0).then(1 - pl.col("rate_c") / pl.col("rate_t")),
                n=pl.min_horizontal("n_treated", "n_control"),
            )
        )

    def shrink(towards: str) -> pl.Expr:
        w = pl.col("n") / (pl.col("n") + a.prior_n)
        value = pl.when(pl.col("measured").is_not_null() & (pl.col("n") > 0))
        return (
            value.then(w * pl.col("measured") + (1 - w) * pl.col(towards))
            .otherwise(pl.col(towards))
            .clip(lo, hi)
        )

    def source() -> pl.Expr:
        return (
            pl.when(pl.col("measured").is_not_null() & (pl.col("n") > 0))
            .then(pl.format("posterior (n={})", pl.col("n")))
            .otherwise(pl.lit("prior"))
        )

    scenario = (
        base.lazy()
        .join(measure(["scenario"]), on="scenario", how="left")
        .with_columns(pl.col("n", "n_treated", "n_control").fill_null(0))
        .with_columns(incrementality=shrink("prior"), source=source(), segment=pl.lit(None, pl.String))
    )
    segment = (
        measure(["scenario", "segment"])
        .filter(pl.col("segment").is_not_null())
        .join(scenario.select("scenario", "prior", towards="incrementality"), on="scenario")
        .with_columns(incrementality=shrink("towards"), source=source())
    )
    cols = list(INCREMENTALITY_SCHEMA)
    return (
        pl.concat([scenario.select(cols), segment.select(cols)])
        .with_columns(pl.col("incrementality", "measured").round(4))
        .sort("scenario", "segment", nulls_last=False)
        .collect()
        .cast(INCREMENTALITY_SCHEMA)
    )


def customer_incrementality(table: pl.DataFrame, customers: pl.LazyFrame, scenario: str) -> pl.LazyFrame:
    """``cid, incrementality`` for ``customers`` (``cid, segment``) in ``scenario``: their
    segment's value, else the scenario's."""
    rows = table.lazy().filter(pl.col("scenario") == scenario)
    overall = rows.filter(pl.col("segment").is_null()).select("incrementality").collect().item()
    by_segment = rows.filter(pl.col("segment").is_not_null()).select("segment", seg_incr="incrementality")
    return (
        customers.select("cid", "segment")
        .join(by_segment, on="segment", how="left")
        .select("cid", incrementality=pl.col("seg_incr").fill_null(overall))
    )


# -- the assignment ------------------------------------------------------------------------------

EV_SCHEMA = {"cid": pl.UInt32, "scenario": pl.String, "ev": pl.Float64}


def _best(options: pl.DataFrame) -> pl.DataFrame:
    """Per customer, the option of highest ``ev`` (ties: scenario name, so the result is
    deterministic)."""
    return options.sort(["cid", "ev", "scenario"], descending=[False, True, False]).unique(
        "cid", keep="first", maintain_order=True
    )


def arbitrate(options: pl.DataFrame, config: ScoringConfig) -> tuple[pl.DataFrame, dict]:
    """Each customer's scenario (``cid, scenario, ev``) from ``options`` (one row per customer
    and scenario whose list they have, with its ``ev``), and a report of the constraints.

    Unconstrained, every customer gets their highest EV. Scenarios turned off (``off``) are
    dropped. Then, for at most a few passes: a scenario above its ``max_share`` of the
    customers gives away those whose best other allowed scenario loses the least EV; a
    scenario below its ``min_share`` takes, among the customers it has a list for, those whose
    move loses the least EV, from scenarios that stay at or above their own minimum. The loss
    is Σ EV(unconstrained) − Σ EV(assigned). Shares count the customers of ``options``; a
    constraint that cannot be met (not enough customers with that list) is reported, not
    forced."""
    a = config.arbitration
    options = options.select(list(EV_SCHEMA)).cast(EV_SCHEMA)
    free = _best(options)
    allowed = options.filter(~pl.col("scenario").is_in(list(a.off)))
    n = free.height
    min_n = {s: math.ceil(getattr(a, f"min_share_{s.lower()}") * n - 1e-9) for s in SCENARIOS}
    max_n = {s: math.floor(getattr(a, f"max_share_{s.lower()}") * n + 1e-9) for s in SCENARIOS}
    assign = _best(allowed)
    for _ in range(2 * len(SCENARIOS)):
        counts = dict(assign.group_by("scenario").len().iter_rows())
        over = [s for s in SCENARIOS if counts.get(s, 0) > max_n[s]]
        under = [s for s in SCENARIOS if counts.get(s, 0) < min_n[s]]
        if not over and not under:
            break
        changed = 0
        for s in over:
            full = [t for t in SCENARIOS if counts.get(t, 0) >= max_n[t]]
            alt = _best(
                allowed.filter(~pl.col("scenario").is_in(full)).join(
                    assign.filter(scenario=s).select("cid"), on="cid", how="semi"
                )
            )
            k = counts.get(s, 0) - max_n[s]
            move = (
                assign.filter(scenario=s)
                .join(alt.rename({"scenario": "to", "ev": "ev_to"}), on="cid")
                .with_columns(loss=pl.col("ev") - pl.col("ev_to"))
                .sort(["loss", "cid"])
                .head(k)
                .select("cid", scenario="to", ev="ev_to")
            )
            assign = pl.concat([assign.join(move, on="cid", how="anti"), move]).sort("cid")
            changed += move.height
            counts = dict(assign.group_by("scenario").len().iter_rows())
        for s in under:
            spare = pl.DataFrame(
                {"from": list(SCENARIOS), "spare": [counts.get(t, 0) - min_n[t] for t in SCENARIOS]},
                schema={"from": pl.String, "spare": pl.Int64},
            )
            k = min_n[s] - counts.get(s, 0)
            move = (
                allowed.filter(scenario=s)
                .select("cid", ev_to="ev")
                .join(assign.rename({"scenario": "from"}), on="cid")
                .filter(pl.col("from") != s)
                .join(spare, on="from")
                .with_columns(loss=pl.col("ev") - pl.col("ev_to"))
                .sort(["loss", "cid"])
                .filter(pl.int_range(pl.len()).over("from") < pl.col("spare"))
                .head(k)
                .select("cid", scenario=pl.lit(s), ev="ev_to")
            )
            assign = pl.concat([assign.join(move, on="cid", how="anti"), move]).sort("cid")
            changed += move.height
            counts = dict(assign.group_by("scenario").len().iter_rows())
        if not changed:
            break
    counts = dict(assign.group_by("scenario").len().iter_rows())
    unmet = [
        f"{s}: {counts.get(s, 0)} of {n} customers, expected "
        + (f"at least {min_n[s]}" if counts.get(s, 0) < min_n[s] else f"at most {max_n[s]}")
        for s in SCENARIOS
        if counts.get(s, 0) < min_n[s] or counts.get(s, 0) > max_n[s]
    ]
    ev_free = float(free["ev"].sum())
    ev_used = float(assign["ev"].sum())
    report = {
        "customers": n,
        "moved": int(n - free.join(assign, on=["cid", "scenario"], how="semi").height),
        "ev_unconstrained": ev_free,
        "ev": ev_used,
        "loss": ev_free - ev_used,
        "unmet": unmet,
    }
    return assign, report


def constrained(config: ScoringConfig) -> bool:
    """Whether any marketer constraint is set."""
    a = config.arbitration
    return bool(a.off) or any(
        getattr(a, f"min_share_{s.lower()}") > 0 or getattr(a, f"max_share_{s.lower()}") < 1
        for s in SCENARIOS
    )


__all__ = [
    "Calibration",
    "calibrate",
    "calibrate_list",
    "list_raw",
    "list_value",
    "incrementality",
    "customer_incrementality",
    "arbitrate",
    "constrained",
]
