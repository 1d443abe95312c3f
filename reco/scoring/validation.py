"""Self-validation: before scoring, replay the backtest's protocol on the retailer's own recent
past and keep each scenario's learnt choice only where it beats its simple baseline there
(docs/scoring.md, "Self-validation").

- The validation window is the run's window (reco.scoring.rhythm: the horizon, at most half
  the history) just before as_of; training is every purchase before it. Nothing on or after
  as_of is read.
- The data is a sample: every k-th customer code among those with history before the window,
  at most ``validation.max_customers``, and their whole history (the validation's model,
  popularity and co-occurrences are learnt from it, so its cost does not grow with the
  customer base). The customers judged are the sampled ones who bought both before and in
  the window (the backtest's eligible customers).
- For each scenario of ``priority``, its learnt list and its baseline's list
  (scenarios.BASELINES: REBUY against REPEAT, CROSS_SELL against co-occurrence, UPSELL
  against co-occurrence restricted to higher tiers, WINBACK and NURTURE against POP) are
  built by the scorer's own code as of the window's start, for the customers the scenario
  fits, and judged on the window: hit@top_n for
  REBUY, WINBACK and NURTURE; new-item hit@top_n (among customers who bought something new)
  for CROSS_SELL and UPSELL.
- The rule: the learnt list is used when at least ``min_customers`` were judged and the
  one-sided lower bound at ``confidence`` of the paired mean difference (learnt − baseline,
  per customer; normal approximation, se = sd / √n) is above 0. Otherwise the baseline is
  used: a run is never worse than the baseline on its own validation window. When there is
  no window (too little history), every scenario uses its baseline.
"""

from __future__ import annotations

import math
from dataclasses import replace
from datetime import date, timedelta
from statistics import NormalDist

import numpy as np
import polars as pl

from reco.scoring import arbitration, rebuy_model, rhythm
from reco.scoring.assign import (
    _score_chunk,
    _scored,
    family_cap,
    select_top,
    with_rhythm,
    with_segment,
    without_floor,
)
from reco.scoring.config import ScoringConfig
from reco.scoring.features import build_history, popular_pool, prepare_products, shared_cache
from reco.scoring.scenarios import BASELINES, Context, build, fits, repeat_rate

#: the task each scenario is judged on (as in reco.backtest.evaluation.TASKS)
METRIC = {
    "REBUY": "hit",
    "WINBACK": "hit",
    "NURTURE": "hit",
    "UPSELL": "new_item_hit",
    "CROSS_SELL": "new_item_hit",
}


def _sample(codes: pl.DataFrame, limit: int) -> pl.DataFrame:
    """Every k-th code (sorted), k so that at most ``limit`` are kept."""
    return codes.sort("customer_code").gather_every(max(1, math.ceil(codes.height / limit)))


def _lists(ctx: Context, scenario: str, subset: pl.DataFrame, mode: str) -> pl.DataFrame:
    """The top-n list of ``scenario`` in ``mode`` for ``subset``: ``cid, pid``."""

    cands = _scored(build(ctx, scenario, subset, mode), fill=0)
    cap = family_cap(scenario, ctx.config)
    return select_top(cands, ctx.products, ctx.config, cap).select("cid", "pid").collect()


def _hits(lists: pl.DataFrame, truth: pl.DataFrame, population: pl.DataFrame) -> np.ndarray:
    """Per customer of ``population`` (in its order): 1 if their list holds a product of
    ``truth`` (cid, pid), else 0."""
    hit = lists.join(truth, on=["cid", "pid"], how="semi").select("cid").unique().with_columns(h=pl.lit(1.0))
    return population.join(hit, on="cid", how="left", maintain_order="left")["h"].fill_null(0.0).to_numpy()


def compare(learnt: np.ndarray, baseline: np.ndarray, config: ScoringConfig) -> dict:
    """The paired comparison and the choice, by the rule of this module's docstring."""
    v = config.validation
    n = len(learnt)
    out: dict = {"n": n}
    if n == 0:
        return out | {"choice": "baseline", "why": "no customer to judge on"}
    d = learnt - baseline
    mean = float(d.mean())
    se = float(d.std(ddof=1) / math.sqrt(n)) if n > 1 else math.inf
    z95 = NormalDist().inv_cdf(0.975)
    lower = mean - NormalDist().inv_cdf(v.confidence) * se
    out |= {
        "learnt": round(float(learnt.mean()), 4),
        "baseline": round(float(baseline.mean()), 4),
        "difference": round(mean, 4),
        "ci_low": round(mean - z95 * se, 4) if math.isfinite(se) else None,
        "ci_high": round(mean + z95 * se, 4) if math.isfinite(se) else None,
        "lower_bound": round(lower, 4) if math.isfinite(lower) else None,
    }
    if n < v.min_customers:
        return out | {"choice": "baseline", "why": f"too few customers to tell ({n} < {v.min_customers})"}
    if lower > 0:
        return out | {"choice": "learnt", "why": f"better at {v.confidence:.0%} confidence"}
    if mean > 0:
        return out | {"choice": "baseline", "why": f"not better at {v.confidence:.0%} confidence"}
    return out | {"choice": "baseline", "why": "not better"}


def validate(
    lines: pl.LazyFrame,
    products: pl.LazyFrame,
    as_of: date,
    config: ScoringConfig,
    window_days: int | None,
    incrementality: pl.DataFrame | None = None,
    segments: pl.DataFrame | None = None,
    shared: dict | None = None,
) -> tuple[dict[str, str], dict, dict]:
    """Each scenario's mode ("learnt" or "baseline"), the record written to the run's
    counts_json under ``validation``, and each scenario's calibration of P on the window
    (:func:`calibrations`; empty without a window). ``lines``: purchase lines before
    ``as_of``; ``products``: the catalogue as ScoringInputs.products; ``incrementality``
    (arbitration.incrementality) and ``segments`` (customer_code, segment) are what the
    assignment guard judges an assignment by expected value with; ``shared``: the scoring's
    (engine.score), whose validation history's global tables are shared too."""
    scenarios = list(config.priority)
    if "NURTURE" not in scenarios:  # NURTURE catches the customers no scenario fits
        scenarios.append("NURTURE")
    v = config.validation
    if not v.enabled:
        record = {"skipped": "validation.enabled = false: every scenario uses its learnt list"}
        return dict.fromkeys(scenarios, "learnt"), record, {}
    rule = (
        f"learnt when n >= {v.min_customers} and the one-sided {v.confidence:.0%} lower bound of "
        "the paired difference (learnt - baseline) is above 0; else the baseline"
    )
    if window_days is None:
        record = {"skipped": "too little history for a validation window: every scenario uses its baseline"}
        return dict.fromkeys(scenarios, "baseline"), record | {"rule": rule}, {}

    # each scenario's own list for every customer it fits, as the backtest's scenario lists
    run_config = config
    config = replace(config, rebuy=replace(config.rebuy, min_hit_probability=0.0))
    start = as_of - timedelta(days=window_days)
    # a sample of customers (every k-th code among those with history before the window) whose
    # whole history is the validation's data: its model, popularity and co-occurrences too
    codes = lines.filter(pl.col("order_date") < start).select("customer_code").unique().collect()
    sample = _sample(codes, v.max_customers)
    sampled = lines.join(sample.lazy(), on="customer_code", how="semi")
    train = sampled.filter(pl.col("order_date") < start)
    window = sampled.filter(pl.col("order_date") >= start)
    eligible = sample.join(window.select("customer_code").unique().collect(), on="customer_code", how="semi")
    past = prepare_products(products, train, start, config)
    # every sampled customer is in scope: P is calibrated on all of them, buyers in the window
    # or not; the comparisons and the guard judge those who bought in it (``population``)
    history = build_history(train, past, sample.lazy(), start, config)
    if shared is not None:
        history._cache = shared_cache(shared, "validation", start, config)

    if segments is not None:
        with_segment(history, segments)
    else:
        history.customers = history.customers.with_columns(segment=pl.lit(None, pl.String))
    past_rhythm = with_rhythm(history, train, start, config)
    model = None
    if "REBUY" in scenarios:
        model = rebuy_model.calibrate(train, products, start, config, past_rhythm.window_days)
    ctx = Context(
        start,
        config,
        past,
        history,
        popular_pool(past, config.rules.popular_pool_size),
        model,
        past_rhythm.window_days or config.rhythm.horizon_days,
    )
    repeat_rate(ctx)
    codes = history.customers.lazy().select("customer_code", "cid")
    truth = (
        window.select("customer_code", "product_key")
        .unique()
        .join(codes, on="customer_code")
        .join(past.lazy().select("product_key", "pid"), on="product_key")
        .select("cid", "pid")
        .collect()
    )
    owned = history.cp.select("cid", "pid")
    new_truth = truth.join(owned, on=["cid", "pid"], how="anti")
    in_scope = history.customers.filter("in_scope")
    modes: dict[str, str] = {}
    rows = []
    for scenario in scenarios:
        metric = METRIC[scenario]
        subset = in_scope.filter(fits(scenario, config))
        target = new_truth if metric == "new_item_hit" else truth
        population = subset.select("cid").join(target.select("cid").unique(), on="cid", how="semi")
        subset = subset.join(population, on="cid", how="semi")
        if subset.height:
            learnt = _hits(_lists(ctx, scenario, subset, "learnt"), target, population)
            base = _hits(_lists(ctx, scenario, subset, "baseline"), target, population)
        else:
            learnt = base = np.zeros(0)
        verdict = compare(learnt, base, config)
        modes[scenario] = verdict["choice"]
        rows.append(
            {"scenario": scenario, "metric": metric, "baseline_name": BASELINES[scenario][0]} | verdict
        )
    # calibrated without REBUY's probability floor (``config``): by expected value it is not used
    cals = {}
    if incrementality is not None:
        cals = calibrations(replace(ctx, config=config, modes=modes), in_scope, truth, scenarios)
    judged_config = without_floor(run_config) if cals else run_config
    ctx = replace(ctx, config=judged_config, modes=modes, calibrations=cals, incrementality=incrementality)
    # by expected value, the priority list is judged too if expected value loses (with the
    # REBUY floor the priority list uses)
    priority = replace(run_config, arbitration=replace(run_config.arbitration, method="priority"))
    assignment = guard(ctx, in_scope, truth, priority=replace(ctx, config=priority) if cals else None)
    record = {
        "window": {
            "start": start.isoformat(),
            "end": (as_of - timedelta(days=1)).isoformat(),
            "days": window_days,
        },
        "sampled_customers": sample.height,
        "customers": eligible.height,
        "rebuy_model": model.as_dict() if model else None,
        "rule": rule,
        "scenarios": rows,
        "assignment": assignment,
    }
    return modes, record, cals


def calibrations(ctx: Context, in_scope: pl.DataFrame, truth: pl.DataFrame, scenarios: list[str]) -> dict:
    """Per (scenario, mode), its raw list score → P(buys from the list within the window),
    learnt on the window: every sampled customer the scenario fits gets its list as of the
    window's start, and a hit when they bought a product of it in the window
    (arbitration.calibrate_list: quantile bins, shrunk, monotone; CROSS_SELL's and UPSELL's
    raw score weighed by the customer's propensity where that fits better). The modes are the ones chosen
    above, and the baselines of REBUY and NURTURE too: the assignment guard's fallbacks use
    them."""
    a = ctx.config.arbitration
    wanted = [(s, ctx.modes.get(s, "learnt")) for s in scenarios]
    wanted += [(s, "baseline") for s in ("REBUY", "NURTURE") if (s, "baseline") not in wanted]
    out = {}
    for scenario, mode in wanted:
        subset = in_scope.filter(fits(scenario, ctx.config))
        if subset.height == 0:
            continue
        cands = _scored(build(ctx, scenario, subset, mode), fill=0)
        top = select_top(cands, ctx.products, ctx.config, family_cap(scenario, ctx.config)).collect()
        hit = top.join(truth, on=["cid", "pid"], how="semi").select("cid").unique()
        cal = arbitration.calibrate_list(
            scenario,
            top,
            hit,
            ctx.history.customers.lazy(),
            a.calibration_bins,
            a.calibration_prior_n,
            ctx.config.validation.confidence,
        )
        if cal is not None:
            out[(scenario, mode)] = cal
    return out


#: the simple lists the whole assignment is judged against: (choice, name, scenario whose
#: baseline it is); the better of them on the window is the run's fallback
FALLBACKS = (("repeat", "REPEAT for everyone", "REBUY"), ("pop", "POP for everyone", "NURTURE"))


def _assigned_hits(ctx: Context, judged: pl.DataFrame, truth: pl.DataFrame, population: pl.DataFrame):
    """Each judged customer's hit with the assignment of ``ctx``, and its items."""

    items, _, _ = _score_chunk(ctx, judged)
    assigned = pl.concat(items, how="vertical_relaxed").select("cid", "pid") if items else None
    hits = _hits(assigned, truth, population) if assigned is not None else np.zeros(population.height)
    return hits, items


#: Scenarios the guard may leave out of an assignment by expected value: REBUY is the repeat list
#: itself, and NURTURE catches the customers no other scenario fits.
DROPPABLE = ("CROSS_SELL", "UPSELL", "WINBACK")


def _losing(
    items: list[pl.DataFrame], platform: np.ndarray, repeat: np.ndarray, population: pl.DataFrame
) -> dict:
    """The droppable scenarios of an assignment whose judged customers hit less, on the window,
    with the scenario's list than with REPEAT's: {scenario: {n, hit, repeat}}."""
    if not items:
        return {}
    scenario_of = pl.concat(items, how="vertical_relaxed").select("cid", "scenario").unique("cid")
    per = (
        population.select("cid")
        .with_columns(hit=pl.Series(platform, dtype=pl.Float64), repeat=pl.Series(repeat, dtype=pl.Float64))
        .join(scenario_of, on="cid")
        .filter(pl.col("scenario").is_in(DROPPABLE))
        .group_by("scenario")
        .agg(n=pl.len(), hit=pl.col("hit").mean(), repeat=pl.col("repeat").mean())
        .filter(pl.col("hit") < pl.col("repeat"))
        .sort("scenario")
    )
    return {
        r["scenario"]: {"n": r["n"], "hit": round(r["hit"], 4), "repeat": round(r["repeat"], 4)}
        for r in per.iter_rows(named=True)
    }


def guard(ctx: Context, in_scope: pl.DataFrame, truth: pl.DataFrame, priority: Context | None = None) -> dict:
    """The whole assignment (each customer's scenario, in the chosen modes) against the better
    of REPEAT and POP for everyone, hit@top_n on the validation window. The assignment is kept
    only when at least ``min_customers`` are judged and it scored at least as well as that
    baseline there. By expected value, an assignment that scored below it is judged again
    without the discovery scenarios whose customers there bought less from their lists than
    they would have from REPEAT's (:func:`_losing`; ``off``: the run then assigns without them),
    then by the priority list (``priority``: the context that assigns by it), kept on the same terms
    (``choice`` "priority"). Otherwise (too few customers to tell, or worse) the run gives
    everyone that baseline (``choice`` "repeat" or "pop"; REPEAT when too few are judged to
    tell the two apart): the simple baseline unless the platform shows it does no worse on the
    retailer's own recent past."""
    v = ctx.config.validation
    population = in_scope.select("cid").join(truth.select("cid").unique(), on="cid", how="semi")
    if population.height == 0:
        return {"n": 0, "choice": "repeat", "why": "no customer to judge on"}
    judged = in_scope.join(population, on="cid", how="semi")
    platform, items = _assigned_hits(ctx, judged, truth, population)
    baselines = {
        choice: (name, _hits(_lists(ctx, scenario, judged, "baseline"), truth, population))
        for choice, name, scenario in FALLBACKS
    }
    enough = population.height >= v.min_customers
    # the better baseline on the window (REPEAT on a tie, or when too few customers to tell)
    fallback = max(baselines, key=lambda c: (enough and float(baselines[c][1].mean()), c == "repeat"))
    name, best = baselines[fallback]
    verdict = compare(platform, best, ctx.config)
    verdict = {k: val for k, val in verdict.items() if k not in ("choice", "why")}
    d, n = verdict.get("difference"), verdict["n"]
    upper = None
    if d is not None and verdict.get("lower_bound") is not None:
        upper = round(2 * d - verdict["lower_bound"], 4)  # the bound is symmetric around d
    assigned_to = (
        pl.concat(items, how="vertical_relaxed").group_by("scenario").agg(pl.col("cid").n_unique())
        if items
        else pl.DataFrame(schema={"scenario": pl.String, "cid": pl.UInt32})
    )
    out = {
        "baseline_name": name,
        **verdict,
        "upper_bound": upper,
        "baselines": {nm: round(float(h.mean()), 4) for nm, h in baselines.values()},
        # the customers judged per scenario of the assignment (what it would give them)
        "by_scenario": dict(sorted(assigned_to.iter_rows())),
    }
    if n < v.min_customers:
        return out | {"choice": fallback, "why": f"too few customers to tell ({n} < {v.min_customers})"}
    if d is None or d < 0:
        by_value = ctx.config.arbitration.method == "expected_value"
        losing = _losing(items, platform, baselines["repeat"][1], population) if by_value else {}
        if losing:
            off = tuple(sorted(set(ctx.config.arbitration.off) | set(losing)))
            without = replace(
                ctx, config=replace(ctx.config, arbitration=replace(ctx.config.arbitration, off=off))
            )
            hits, _ = _assigned_hits(without, judged, truth, population)
            second = {
                k: val for k, val in compare(hits, best, ctx.config).items() if k not in ("choice", "why")
            }
            out["without_losing"] = second | {"off": losing}
            if second.get("difference") is not None and second["difference"] >= 0:
                return out | {
                    "choice": "assignment",
                    "off": sorted(losing),
                    "why": f"by expected value the assignment scored below {name} on the validation"
                    f" window; without {', '.join(sorted(losing))}, whose customers there bought"
                    " less from its lists than from REPEAT's, it did not",
                }
        if priority is not None:
            hits, _ = _assigned_hits(priority, judged, truth, population)
            second = {
                k: val for k, val in compare(hits, best, ctx.config).items() if k not in ("choice", "why")
            }
            out["priority"] = second
            if second.get("difference") is not None and second["difference"] >= 0:
                return out | {
                    "choice": "priority",
                    "why": f"by expected value the assignment scored below {name} on the validation"
                    " window; by the priority list it did not",
                }
        return out | {
            "choice": fallback,
            "why": f"the assignment scored below {name} on the validation window",
        }
    return out | {"choice": "assignment", "why": f"not worse than {name} on the validation window"}


__all__ = ["validate", "compare", "METRIC", "rhythm"]
