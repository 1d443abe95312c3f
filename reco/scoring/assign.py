"""Each customer's scenario and products for one chunk of customers: the scenario lists,
the business rules and top-N (:func:`select_top`), the assignment by expected value or by
priority (:func:`_score_chunk`) and the items' encoding. Used by the engine for the run and by
self-validation for the window before it (reco.scoring.validation), so neither imports the
other's module for it."""

from __future__ import annotations

from dataclasses import replace
from datetime import date

import polars as pl

from reco.scoring import arbitration, rhythm
from reco.scoring.config import ScoringConfig
from reco.scoring.features import History
from reco.scoring.scenarios import BUILDERS, Context, build, fallback, fits


def _position(by: str) -> pl.Expr:
    """0, 1, 2… within each run of equal ``by`` values of a frame sorted by ``by``: the row
    index minus the index where its run starts (no hash grouping, no window)."""
    idx = pl.int_range(pl.len(), dtype=pl.UInt32)
    return idx - pl.when(pl.col(by).ne_missing(pl.col(by).shift(1))).then(idx).forward_fill()


def family_cap(scenario: str, config: ScoringConfig) -> int:
    """At most this many products of one family in a list of ``scenario`` (0: no cap): REBUY's
    own cap (its lists are the customer's own products), ``rules.max_per_family`` otherwise."""
    return config.rebuy.max_per_family if scenario == "REBUY" else config.rules.max_per_family


def _prune(ranked: pl.LazyFrame, top_n: int, cap: int) -> pl.LazyFrame:
    """Drop the scenario picks (``fill`` 0) that cannot make a customer's first ``top_n``,
    so that the sorts of :func:`select_top` see a few rows per customer, not all of them.

    The best pick of each family (each pick, without a cap) always survives the family cap,
    so when a customer has ``top_n`` such bests, the ``top_n``-th of them scores a floor: a
    pick that scores less ranks after ``top_n`` survivors (picks come before fills) and is
    never kept. Picks at the floor and every fill stay: the sorts order them as before."""
    group = ["cid", "fam"] if cap > 0 else ["cid", "pid"]
    picks = ranked.filter(pl.col("fill") == 0)
    floor = (
        picks.group_by(group)
        .agg(pl.col("score").max())
        .sort(["cid", "score"], descending=[False, True])
        .filter(_position("cid") == top_n - 1)
        .select("cid", floor="score")
    )
    return (
        ranked.join(floor, on="cid", how="left")
        .filter((pl.col("fill") != 0) | pl.col("floor").is_null() | (pl.col("score") >= pl.col("floor")))
        .drop("floor")
    )


def select_top(cands: pl.LazyFrame, products: pl.DataFrame, config: ScoringConfig, cap: int) -> pl.LazyFrame:
    """The business rules on scored candidates (one row per customer and product): best first
    (``fill`` 0 before 1, then score, ``tb``, popularity rank, which is unique per product),
    at most ``cap`` (:func:`family_cap` of the scenario; 0: none) of one family (products
    without a family are not capped), the first ``top_n`` kept and ranked 1..n.

    Two sorts and running positions, no grouping: sorted by (customer, family, order), each
    family keeps its first min(cap, top_n) rows (products without a family their first top_n,
    which is all a list can take); the survivors, sorted by (customer, order), keep their
    first top_n."""
    top_n = config.rules.top_n
    order = ["fill", "score", "tb", "pop_rank"]
    descending = [False, True, True, False]
    # an integer family code: sorting and comparing it is cheaper than the family name
    ranked = cands.join(
        products.lazy().select("pid", "pop_rank", fam=pl.col("family").rank("dense")), on="pid"
    )
    ranked = _prune(ranked, top_n, cap)
    if cap > 0:
        keep = pl.when(pl.col("fam").is_null()).then(top_n).otherwise(min(cap, top_n))
        ranked = (
            ranked.sort(["cid", "fam", *order], descending=[False, False, *descending])
            .with_columns(group=pl.struct("cid", "fam"))
            .filter(_position("group") < keep)
            .drop("group")
        )
    ranked = ranked.sort(["cid", *order], descending=[False, *descending])
    columns = [c for c in ranked.collect_schema() if c not in ("cid", "fam", "pop_rank")]
    return (
        ranked.with_columns(rank=(_position("cid") + 1).cast(pl.Int32))
        .filter(pl.col("rank") <= top_n)
        .select("cid", *columns, "rank")
    )


FALLBACK_COMPONENTS = ("c_popularity", "c_preference")


def _scored(cands: pl.LazyFrame, fill: int) -> pl.LazyFrame:
    """Add ``score`` (the sum of the c_* contributions) and ``fill`` (0 scenario, 1 fallback)."""
    schema = cands.collect_schema()
    comps = [c for c in schema if c.startswith("c_")]
    because = [c for c in ("because_1", "because_2") if c in schema]
    return cands.select(
        "cid",
        "pid",
        "tb",
        *[pl.col(c).cast(pl.UInt32) for c in because],
        *[pl.col(c).cast(pl.Float64) for c in comps],
        fill=pl.lit(fill, pl.Int8),
        score=pl.sum_horizontal(comps).round(9),
    )


def _components(names) -> pl.Expr:
    return pl.struct(pl.col(c).round(6).alias(c[2:]) for c in names).alias("components")


def _encode(
    top: pl.DataFrame, products: pl.DataFrame, scenario: str, comps: list[str], ev: pl.DataFrame | None = None
) -> pl.DataFrame:
    """Final item rows. reasons_json = {"components": {name: contribution}, "because": [product
    keys that drove a co-occurrence score], "source": "scenario" | "fallback_popular"}, and for
    REBUY's picks "probability": the chance of a re-purchase its score (a log-odds) stands for.

    With ``ev`` (``cid, p, incrementality, value, ev``: the expected value of each customer's
    list, reco.scoring.arbitration) the score is the item's share of it, ev / items on the
    list, and reasons_json gains "expected_value": {p, incrementality, value, share,
    raw_score}, with score = p × incrementality × value × share (so a list's scores add up to
    its EV); raw_score is the scenario's own score, the sum of the components. Without it
    (no calibration: no validation window) the score is the raw score.
    Product keys are looked up by position (``pid`` is the row of ``products``), and each row's
    JSON is built once, scenario picks and fallback fills apart."""
    keys = products["product_key"]
    schema = top.schema

    def key(col: str) -> pl.Expr:
        return pl.lit(keys).gather(pl.col(col)) if col in schema else pl.lit(None, pl.String)

    because = pl.concat_list(key("because_1"), key("because_2")).list.drop_nulls().alias("because")
    top = top.with_columns(pl.lit(None, pl.Float64).alias(c) for c in FALLBACK_COMPONENTS if c not in schema)
    extra = []
    if "c_baseline" in comps:  # REBUY's model: its score is a log-odds, say the chance it stands for
        extra.append((1 / (1 + (-pl.col("score")).exp())).round(4).alias("probability"))
    value: list[pl.Expr] = []
    if ev is not None:
        top = top.join(ev.select("cid", "p", "incrementality", "value", "ev"), on="cid", how="left")
        share = 1 / pl.len().over("cid")
        top = top.with_columns(raw_score=pl.col("score"), share=share).with_columns(
            score=pl.when(pl.col("ev").is_not_null())
            .then((pl.col("p") * pl.col("incrementality") * pl.col("value") * pl.col("share")).round(9))
            .otherwise(pl.col("score"))
        )
        value.append(
            pl.when(pl.col("ev").is_not_null())
            .then(
                pl.struct(
                    pl.col("p").round(6),
                    pl.col("incrementality").round(6),
                    pl.col("value").round(6),
                    pl.col("share").round(6),
                    pl.col("raw_score").round(6),
                )
            )
            .alias("expected_value")
        )
    reasons = {
        0: pl.struct(_components(comps), because, *extra, *value, source=pl.lit("scenario")),
        1: pl.struct(_components(FALLBACK_COMPONENTS), *value, source=pl.lit("fallback_popular")),
    }
    return pl.concat(
        top.filter(pl.col("fill") == fill).select(
            "cid",
            "pid",
            "fill",
            scenario=pl.lit(scenario),
            rank="rank",
            product_key=pl.lit(keys).gather(pl.col("pid")),
            score="score",
            reasons_json=expr.struct.json_encode(),
            because_pid=pl.col("because_1") if "because_1" in schema else pl.lit(None, pl.UInt32),
        )
        for fill, expr in reasons.items()
    )


def _chunk_history(history: History, chunk: pl.DataFrame) -> History:
    """The history of the customers whose ``cid`` lies in the chunk's range (a range filter, so
    each chunk reads only its slice instead of joining against everyone's history); the global
    tables cached on ``history`` (neighbours, repeat rates) are shared, never recomputed."""
    lo, hi = chunk["cid"].min(), chunk["cid"].max()
    in_range = pl.col("cid").is_between(lo, hi)
    shared = {k: v for k, v in history._cache.items() if k in ("neighbours", "repeat_rate")}
    return History(
        history.customers.filter(in_range),
        history.cp.filter(in_range),
        history.family_share.filter(in_range),
        history.grape_share.filter(in_range),
        history.unmapped,
        shared,
    )


def expected_values(ctx: Context, scenario: str, top: pl.DataFrame) -> pl.DataFrame | None:
    """``cid, raw, value, incrementality, p, ev`` of each customer's list of ``scenario`` (``top``:
    its picks, as :func:`select_top` returns them), or None when the scenario has no calibration
    (reco.scoring.arbitration)."""
    cal = calibration(ctx, scenario)
    if cal is None or ctx.incrementality is None or top.height == 0:
        return None
    incr = arbitration.customer_incrementality(ctx.incrementality, ctx.history.customers.lazy(), scenario)
    return (
        arbitration.list_raw(top, ctx.history.customers.lazy(), cal.weighed_by)
        .join(arbitration.list_value(top, ctx.products), on="cid")
        .join(incr, on="cid", how="left")
        .with_columns(p=cal.apply(pl.col("raw")))
        .with_columns(ev=pl.col("p") * pl.col("incrementality") * pl.col("value"))
        .collect()
    )


def _tally(tally: dict | None, scenario: str, fits_n: int, offered: int) -> None:
    """Add to ``tally`` (when given) the customers ``scenario``'s rule fits and those it was
    offered; ``with_candidates`` is added once its lists are built."""
    if tally is not None:
        t = tally.setdefault(scenario, {"fits": 0, "offered": 0, "with_candidates": 0})
        t["fits"] += fits_n
        t["offered"] += offered


def _enough(cands: pl.DataFrame, min_candidates: int) -> pl.DataFrame:
    """``cid`` of the customers with at least ``min_candidates`` candidates in ``cands``."""
    if min_candidates <= 1:  # every customer in it has one
        return cands.select(pl.col("cid").unique())
    return cands.group_by("cid").len().filter(pl.col("len") >= min_candidates).select("cid")


def _claim_by_priority(
    ctx: Context, chunk: pl.DataFrame, tally: dict | None = None
) -> tuple[dict, pl.DataFrame]:
    """Each customer's candidates in the first scenario of ``priority`` that fits them and
    has at least ``min_candidates``; and the customers none takes. ``tally`` (when given) adds
    up, per scenario, the customers its rule fits, those still unassigned when it was offered
    them, and those of them it had candidates for (what ``reco runs show`` says of a scenario
    that got nobody)."""
    config = ctx.config
    remaining = chunk
    claimed: dict[str, list[pl.DataFrame]] = {s: [] for s in BUILDERS}
    for scenario in config.priority:
        subset = remaining.filter(fits(scenario, config))
        _tally(tally, scenario, chunk.filter(fits(scenario, config)).height, subset.height)
        if subset.height == 0:
            continue
        cands = _scored(build(ctx, scenario, subset), fill=0).collect()
        enough = _enough(cands, config.rules.min_candidates)
        if tally is not None:
            tally[scenario]["with_candidates"] += enough.height
        claimed[scenario].append(cands.join(enough, on="cid", how="semi"))
        remaining = remaining.join(enough, on="cid", how="anti")
    return claimed, remaining


def _claim_by_value(
    ctx: Context, chunk: pl.DataFrame, tally: dict | None = None
) -> tuple[dict, dict, pl.DataFrame, dict]:
    """Every scenario's list for every customer it fits, their expected values, and each
    customer's scenario by :func:`arbitration.arbitrate`. Returns the claimed candidates, the
    lists already ranked and their expected values (scenario → (top, ev), for the customers
    it got), the customers no scenario takes, and the constraints' report."""
    config, products = ctx.config, ctx.products
    claimed: dict[str, list[pl.DataFrame]] = {s: [] for s in BUILDERS}
    cands_of: dict[str, tuple[pl.DataFrame, pl.DataFrame, pl.DataFrame]] = {}
    options = []
    for scenario in config.priority:
        subset = chunk.filter(fits(scenario, config))
        # by expected value every customer a scenario fits is offered it
        _tally(tally, scenario, subset.height, subset.height)
        if subset.height == 0 or calibration(ctx, scenario) is None:
            continue
        cands = _scored(build(ctx, scenario, subset), fill=0).collect()
        enough = _enough(cands, config.rules.min_candidates)
        if tally is not None:
            tally[scenario]["with_candidates"] += enough.height
        if config.rules.min_candidates > 1:
            cands = cands.join(enough, on="cid", how="semi")
        top = select_top(cands.lazy(), products, config, family_cap(scenario, config)).collect()
        del cands  # the ranked lists are all that is kept of it: every customer in it has one
        ev = expected_values(ctx, scenario, top)
        if ev is None:
            continue
        cands_of[scenario] = (top, ev)
        options.append(ev.select("cid", pl.lit(scenario).alias("scenario"), "ev"))
    frame = pl.concat(options) if options else pl.DataFrame(schema=arbitration.EV_SCHEMA)
    assign, report = arbitration.arbitrate(frame, config)
    ready = {}
    for scenario, (top, ev) in cands_of.items():
        mine = assign.filter(scenario=scenario).select("cid")
        top = top.join(mine, on="cid", how="semi")
        # the claimed candidates stand for the ranked list: what is read of them later is their
        # columns and customers, the same
        claimed[scenario].append(top.drop("rank"))
        ready[scenario] = (top, ev.join(mine, on="cid", how="semi"))
    return claimed, ready, chunk.join(assign, on="cid", how="anti"), report


def _score_chunk(
    ctx: Context, chunk: pl.DataFrame, tally: dict | None = None
) -> tuple[list[pl.DataFrame], pl.DataFrame, dict | None]:
    """Scenario assignment, business rules, top-N and fallback fill for one chunk of in-scope
    customers. Every step is per customer (global tables come from ``ctx``), so the result for a
    customer does not depend on which chunk it is in (marketer share constraints, when set,
    apply within each chunk). Returns the encoded items per scenario, the customers no
    scenario fits and, by expected value, the arbitration's report; ``tally`` as
    :func:`_claim_by_priority` says."""
    config, products = ctx.config, ctx.products
    ctx = replace(ctx, history=_chunk_history(ctx.history, chunk))
    report = None
    ready: dict[str, tuple[pl.DataFrame, pl.DataFrame | None]] = {}
    if by_value(ctx):
        claimed, ready, remaining, report = _claim_by_value(ctx, chunk, tally)
    else:
        claimed, remaining = _claim_by_priority(ctx, chunk, tally)
    if remaining.height:  # no scenario fits: NURTURE's popular, seasonal, profile-matched picks
        claimed["NURTURE"].append(_scored(build(ctx, "NURTURE", remaining), fill=0).collect())

    top_n = config.rules.top_n
    items = []
    for scenario, parts in claimed.items():
        if not parts:
            continue
        cands = pl.concat(parts, how="diagonal_relaxed").lazy()
        comps = [c for c in cands.collect_schema() if c.startswith("c_")]
        cap = family_cap(scenario, config)
        # lists ranked while arbitrating are kept; the others (NURTURE catching the customers no
        # scenario took, or every list by priority) are ranked here
        top, ev = ready.get(scenario, (None, None))
        todo = parts[1:] if top is not None else parts
        if todo:
            more = select_top(pl.concat(todo, how="diagonal_relaxed").lazy(), products, config, cap).collect()
            more_ev = expected_values(ctx, scenario, more)
            top = more if top is None else pl.concat([top, more], how="diagonal_relaxed")
            ev = more_ev if ev is None else ev if more_ev is None else pl.concat([ev, more_ev])
        counts = top.group_by("cid").len()
        short = chunk.join(counts, on="cid", how="left").filter(pl.col("len").fill_null(0) < top_n)
        short = short.join(cands.select("cid").unique().collect(), on="cid", how="semi")
        if short.height:
            chosen = top.lazy().drop("rank").join(short.lazy(), on="cid", how="semi")
            extra = _scored(fallback(ctx, short), fill=1).join(chosen, on=["cid", "pid"], how="anti")
            refilled = select_top(
                pl.concat([chosen, extra], how="diagonal_relaxed"), products, config, cap
            ).collect()
            top = pl.concat([top.join(short, on="cid", how="anti"), refilled], how="diagonal_relaxed")
        items.append(_encode(top, products, scenario, comps, ev))
    return items, remaining, report


def without_floor(config: ScoringConfig) -> ScoringConfig:
    """By expected value, EV decides who gets REBUY: its probability floor belongs to the
    priority list and is not applied."""
    if config.arbitration.method != "expected_value":
        return config
    return replace(config, rebuy=replace(config.rebuy, min_hit_probability=0.0))


def calibration(ctx: Context, scenario: str) -> arbitration.Calibration | None:
    """The calibration of ``scenario``'s lists in the mode the run uses (``ctx.modes``)."""
    return ctx.calibrations.get((scenario, ctx.modes.get(scenario, "learnt")))


def by_value(ctx: Context) -> bool:
    """Whether customers are assigned by expected value: the configured method, and
    calibrations to compute it with (none without a validation window)."""
    return ctx.config.arbitration.method == "expected_value" and bool(ctx.calibrations)


def with_segment(history: History, segments: pl.DataFrame) -> None:
    """Add each customer's RFM ``segment`` (null without a profile) to ``history.customers``
    (in place, its cid order kept): incrementality is read per scenario and segment."""
    history.customers = history.customers.join(
        segments.unique("customer_code"), on="customer_code", how="left", maintain_order="left"
    )


def with_rhythm(history: History, lines: pl.LazyFrame, as_of: date, config: ScoringConfig) -> rhythm.Rhythm:
    """Derive the run's rhythm (reco.scoring.rhythm) and add each customer's ``cycle_days``
    and ``lapsed_after`` to ``history.customers`` (in place, its cid order kept)."""
    run_rhythm, per_customer = rhythm.derive(lines, as_of, config)
    history.customers = history.customers.join(
        per_customer, on="customer_code", how="left", maintain_order="left"
    ).with_columns(pl.col("lapsed_after").fill_null(run_rhythm.lapsed_days))
    return run_rhythm
