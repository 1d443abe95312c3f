"""``score``: eligibility → scenario assignment → candidates → business rules → top-N, with
audits. Pure function of the inputs and the configuration (no database access)."""

from __future__ import annotations

from dataclasses import dataclass, replace
from datetime import date, timedelta

import polars as pl

from reco.scoring import arbitration, rebuy_model, rhythm, validation, why
from reco.scoring.config import ScoringConfig
from reco.scoring.eligibility import eligibility
from reco.scoring.features import History, build_history, neighbours, popular_pool, prepare_products
from reco.scoring.inputs import ScoringInputs
from reco.scoring.scenarios import BUILDERS, Context, build, fallback, fits, repeat_rate

ITEM_SCHEMA = {
    "customer_code": pl.String,
    "scenario": pl.String,
    "rank": pl.Int32,
    "product_key": pl.String,
    "score": pl.Float64,
    "reasons_json": pl.String,
}
AUDIT_SCHEMA = {
    "customer_code": pl.String,
    "kind": pl.String,
    "reason_code": pl.String,
    "severity": pl.String,
    "product_key": pl.String,
    "details_json": pl.String,
}


#: In-scope customers scored per chunk: bounds memory and keeps time linear in customers.
CHUNK_CUSTOMERS = 200_000


@dataclass
class ScoringResult:
    items: pl.DataFrame  # customer_code, scenario, rank, product_key, score, reasons_json
    audits: pl.DataFrame  # customer_code, kind, reason_code, severity, product_key, details_json
    counts: dict


def _position(by: str) -> pl.Expr:
    """0, 1, 2… within each run of equal ``by`` values of a frame sorted by ``by``: the row
    index minus the index where its run starts (no hash grouping, no window)."""
    idx = pl.int_range(pl.len(), dtype=pl.UInt32)
    return idx - pl.when(pl.col(by).ne_missing(pl.col(by).shift(1))).then(idx).forward_fill()


def family_cap(scenario: str, config: ScoringConfig) -> int:
    """At most this many products of one family in a list of ``scenario`` (0: no cap): REBUY's
    own cap (its lists are the customer's own products), ``rules.max_per_family`` otherwise."""
    return config.rebuy.max_per_family if scenario == "REBUY" else config.rules.max_per_family


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


def _audit(
    frame: pl.LazyFrame, kind: str, reason: pl.Expr | str, severity: str, details: list
) -> pl.LazyFrame:
    reason = pl.lit(reason) if isinstance(reason, str) else reason
    return frame.select(
        customer_code=pl.col("customer_code"),
        kind=pl.lit(kind),
        reason_code=reason,
        severity=pl.lit(severity),
        product_key=pl.lit(None, pl.String),
        details_json=pl.struct(details).struct.json_encode() if details else pl.lit(None, pl.String),
    )


def _run_audit(reason: str, severity: str, details: dict) -> pl.DataFrame:
    import json

    return pl.DataFrame(
        [
            {
                "customer_code": None,
                "kind": "data_quality",
                "reason_code": reason,
                "severity": severity,
                "product_key": None,
                "details_json": json.dumps(details, default=str, sort_keys=True),
            }
        ],
        schema=AUDIT_SCHEMA,
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
        arbitration.list_raw(top)
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
        enough = cands.group_by("cid").len().filter(pl.col("len") >= config.rules.min_candidates)
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
        enough = cands.group_by("cid").len().filter(pl.col("len") >= config.rules.min_candidates)
        if tally is not None:
            tally[scenario]["with_candidates"] += enough.height
        cands = cands.join(enough, on="cid", how="semi")
        top = select_top(cands.lazy(), products, config, family_cap(scenario, config)).collect()
        ev = expected_values(ctx, scenario, top)
        if ev is None:
            continue
        cands_of[scenario] = (cands, top, ev)
        options.append(ev.select("cid", pl.lit(scenario).alias("scenario"), "ev"))
    frame = pl.concat(options) if options else pl.DataFrame(schema=arbitration.EV_SCHEMA)
    assign, report = arbitration.arbitrate(frame, config)
    ready = {}
    for scenario, (cands, top, ev) in cands_of.items():
        mine = assign.filter(scenario=scenario).select("cid")
        claimed[scenario].append(cands.join(mine, on="cid", how="semi"))
        ready[scenario] = (top.join(mine, on="cid", how="semi"), ev.join(mine, on="cid", how="semi"))
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


def score(
    inputs: ScoringInputs,
    config: ScoringConfig,
    *,
    apply_contact_rules: bool = True,
    chunk_size: int | None = CHUNK_CUSTOMERS,
) -> ScoringResult:
    """Recommend ``top_n`` products to every eligible customer (every customer with history
    when ``apply_contact_rules`` is false: no eligibility, no silence window). Customers are
    scored ``chunk_size`` at a time (None: all at once); the output does not depend on it."""
    as_of = inputs.as_of
    lines = inputs.order_lines.filter(pl.col("order_date") < as_of)
    products = prepare_products(inputs.products, lines, as_of, config)
    audits: list[pl.LazyFrame | pl.DataFrame] = []

    if apply_contact_rules:
        verdict = eligibility(inputs.customers, inputs.contacts, as_of, config.eligibility).collect()
        scope = verdict.lazy().filter(pl.col("reason_code").is_null()).select("customer_code")
        suppressed = verdict.filter(pl.col("reason_code").is_not_null())
        audits.append(
            _audit(
                suppressed.lazy(),
                "suppressed",
                pl.col("reason_code"),
                "info",
                ["reasons", "last_contact_date", "contacts_in_cap_period"],
            )
        )
        n_customers = verdict.height
        audits.extend(consent_audits(inputs))
    else:
        scope = lines.select("customer_code").unique()
        suppressed = pl.DataFrame(schema={"customer_code": pl.String, "reason_code": pl.String})
        n_customers = None

    history = build_history(lines, products, scope, as_of, config)
    segments = inputs.profiles.select("customer_code", pl.col("segment").cast(pl.String)).collect()
    with_segment(history, segments)
    run_rhythm = with_rhythm(history, lines, as_of, config)
    window = run_rhythm.window_days
    model = None
    if "REBUY" in config.priority:
        model = rebuy_model.calibrate(lines, inputs.products, as_of, config, window)
    pool = popular_pool(products, config.rules.popular_pool_size)
    incr = arbitration.incrementality(config, inputs.outcomes)
    modes, checked, calibrations = validation.validate(
        lines, inputs.products, as_of, config, window, incr, segments
    )
    run_config = without_floor(config) if calibrations else config
    fallback = (checked.get("assignment") or {}).get("choice")
    priority = replace(config.arbitration, method="priority")
    if fallback == "priority":
        # expected value lost to the simple list on the window, the priority list did not
        run_config = replace(config, arbitration=priority)
    elif fallback == "repeat":
        # the assignment did not show it does as well as REPEAT for everyone: REPEAT it is
        run_config = replace(run_config, priority=("REBUY",), arbitration=priority)
        modes = modes | {"REBUY": "baseline"}
    elif fallback == "pop":
        # ... nor as well as POP for everyone, which beat REPEAT there: everyone gets POP
        nurture = replace(config.nurture, max_orders=2**31 - 1)
        run_config = replace(run_config, priority=("NURTURE",), nurture=nurture, arbitration=priority)
        modes = modes | {"NURTURE": "baseline"}
    ctx = Context(
        as_of,
        run_config,
        products,
        history,
        pool,
        model,
        window or config.rhythm.horizon_days,
        modes,
        calibrations,
        incr,
    )
    customers = history.customers
    if n_customers is None:
        n_customers = int(customers["in_scope"].sum())

    # -- global, customer-independent parts once; then customers in fixed-size chunks ---------
    neighbours(history, products, as_of, config)
    repeat_rate(ctx)
    in_scope = customers.filter("in_scope")
    n_eligible = in_scope.height
    size = max(1, chunk_size or in_scope.height or 1)
    items: list[pl.DataFrame] = []
    reports: list[dict] = []
    tally: dict = {}
    for start in range(0, in_scope.height, size):
        chunk_items, no_fit, report = _score_chunk(ctx, in_scope.slice(start, size), tally)
        items.extend(chunk_items)
        if report is not None:
            reports.append(report)
        if no_fit.height:
            audits.append(_audit(no_fit.lazy(), "fallback", "no_scenario_fits", "info", []))
    top_n = config.rules.top_n
    items_df = (
        why.annotate(pl.concat(items, how="vertical_relaxed"), ctx, fallback)
        if items
        else pl.DataFrame(schema={"cid": pl.UInt32, "pid": pl.UInt32, "fill": pl.Int8, **ITEM_SCHEMA})
    )
    per_customer = items_df.group_by("cid").agg(
        n=pl.len(), filled=(pl.col("fill") > 0).sum(), scenario=pl.col("scenario").first()
    )
    codes = customers.lazy().select("cid", "customer_code", "in_scope")
    filled = codes.join(per_customer.lazy().filter(pl.col("filled") > 0), on="cid")
    audits.append(_audit(filled, "fallback", "filled_from_popular", "info", ["scenario", "filled"]))
    short = (
        codes.filter("in_scope")
        .join(per_customer.lazy(), on="cid", how="left")
        .filter(pl.col("n").fill_null(0) < top_n)
        .with_columns(n=pl.col("n").fill_null(0))
    )
    audits.append(_audit(short, "fallback", "short_list", "warning", ["scenario", "n"]))
    audits.extend(quality_audits(inputs, lines, products, history, as_of, config))
    if model is not None and model.source != "calibrated":
        audits.append(_run_audit("rebuy_model_not_calibrated", "info", model.as_dict()))

    # cid follows customer_code order (features.build_history), so sorting by the integer id
    # sorts by the code; the left-ordered join keeps that order
    items_out = (
        items_df.sort("cid", "rank")
        .join(customers.select("cid", "customer_code"), on="cid", maintain_order="left")
        .select(list(ITEM_SCHEMA))
        .cast(ITEM_SCHEMA)
    )
    audits_out = (
        pl.concat([a.lazy() if isinstance(a, pl.DataFrame) else a for a in audits], how="vertical_relaxed")
        .cast(AUDIT_SCHEMA)
        .sort(["kind", "reason_code", "customer_code", "product_key"], nulls_last=True)
        .collect()
    )
    by_scenario = items_df.group_by("scenario").agg(customer_code=pl.col("cid").n_unique())
    reasons = suppressed.group_by("reason_code").len()
    audit_counts = audits_out.group_by("kind", "reason_code").len()
    counts = {
        "customers": n_customers,
        "eligible": n_eligible,
        "suppressed": suppressed.height,
        "suppressed_by_reason": dict(sorted(zip(reasons["reason_code"], reasons["len"], strict=True))),
        "recommended_customers": items_df["cid"].n_unique(),
        "items": items_out.height,
        "by_scenario": {
            s: dict(zip(by_scenario["scenario"], by_scenario["customer_code"], strict=True)).get(s, 0)
            for s in BUILDERS
        },
        "fallback_filled_customers": filled.select(pl.len()).collect().item(),
        "short_list_customers": short.select(pl.len()).collect().item(),
        "audits": {f"{k}:{r}": n for k, r, n in sorted(audit_counts.iter_rows())},
        "active_products": int(products["is_active"].sum()),
        "rebuy_model": model.as_dict() if model else None,
        "rhythm": run_rhythm.as_dict(),
        "validation": checked,
        "arbitration": arbitration_record(
            ctx, config.arbitration.method, incr, calibrations, reports, items_df, fallback
        ),
        # per scenario: customers its rule fits, offered it (unassigned), with candidates
        "assignment": tally,
    }
    return ScoringResult(items=items_out, audits=audits_out, counts=counts)


def arbitration_record(
    ctx: Context,
    configured: str,
    incr: pl.DataFrame,
    calibrations: dict,
    reports: list[dict],
    items: pl.DataFrame,
    guard_choice: str | None = None,
) -> dict:
    """What ``reco_run.counts_json.arbitration`` records: the method used, the incrementality
    per scenario and segment with its source, each scenario's calibration, the expected value
    per scenario and, with constraints, what they cost."""
    a = ctx.config.arbitration
    method = "expected_value" if by_value(ctx) else "priority"
    ev = items.group_by("scenario").agg(pl.col("score").sum())
    out: dict = {
        "method": method,
        "configured": configured,
        "incrementality": [
            {k: v for k, v in row.items() if v is not None or k == "segment"}
            for row in incr.iter_rows(named=True)
        ],
        "calibration": {f"{s} ({mode})": c.as_dict() for (s, mode), c in calibrations.items()},
        "expected_value": {s: round(float(v), 4) for s, v in sorted(ev.iter_rows())},
    }
    if configured != method:
        if guard_choice == "priority":
            out["why"] = (
                "by expected value the assignment scored below the simple list on the validation"
                " window, by the priority list it did not"
            )
        elif calibrations:
            out["why"] = "the assignment guard fell back to a simple list for everyone"
        else:
            out["why"] = "nothing to calibrate P on (no validation window, or validation off)"
    if reports and arbitration.constrained(ctx.config):
        total = {
            k: sum(r[k] for r in reports) for k in ("customers", "moved", "ev_unconstrained", "ev", "loss")
        }
        free = total["ev_unconstrained"]
        out["constraints"] = {
            "off": list(a.off),
            "min_share": {
                s: getattr(a, f"min_share_{s.lower()}")
                for s in BUILDERS
                if getattr(a, f"min_share_{s.lower()}") > 0
            },
            "max_share": {
                s: getattr(a, f"max_share_{s.lower()}")
                for s in BUILDERS
                if getattr(a, f"max_share_{s.lower()}") < 1
            },
            "customers_moved": total["moved"],
            "ev_unconstrained": round(free, 4),
            "ev": round(total["ev"], 4),
            "loss": round(total["loss"], 4),
            "loss_share": round(total["loss"] / free, 4) if free > 0 else None,
            "unmet": [u for r in reports for u in r["unmet"]],
        }
    return out


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


def consent_audits(inputs: ScoringInputs) -> list:
    """Where the warehouse lags its durable sources (docs/scoring.md, "Consent guarantees"):
    customers whose consent ``raw.customer`` made stricter than the ``customer`` mart says,
    and customer codes loaded since the code map was built."""
    out: list = []
    if "consent_tightened" in inputs.customers.collect_schema():
        out.append(
            _audit(
                inputs.customers.filter(pl.col("consent_tightened")),
                "data_quality",
                "consent_newer_than_warehouse",
                "warning",
                ["is_contactable", "is_bounced", "is_optout"],
            )
        )
    unmapped = inputs.sources.get("unmapped_customer_codes") or 0
    if unmapped:
        out.append(_run_audit("customer_codes_not_in_warehouse", "warning", {"codes": unmapped}))
    return out


def quality_audits(
    inputs: ScoringInputs,
    lines: pl.LazyFrame,
    products: pl.DataFrame,
    history,
    as_of: date,
    config: ScoringConfig,
) -> list:
    """Data-quality flags: per customer (unmapped products in history, low aroma confidence)
    and for the run (stale profiles, unknown product keys, products without attributes, no
    active product, customers with history but no profile)."""
    q = config.quality
    in_scope = history.customers.lazy().filter("in_scope").select("customer_code")
    out: list = []
    unmapped = history.unmapped.lazy().join(in_scope, on="customer_code", how="semi")
    out.append(
        _audit(
            unmapped.filter(pl.col("n_unmapped_lines") > 0),
            "data_quality",
            "unmapped_products_in_history",
            "warning",
            ["n_unmapped_lines"],
        )
    )
    out.append(
        _audit(
            unmapped.filter(pl.col("n_unknown_lines") > 0),
            "data_quality",
            "unknown_products_in_history",
            "warning",
            ["n_unknown_lines", "unknown_examples"],
        )
    )
    profiles = inputs.profiles.join(in_scope, on="customer_code", how="semi")
    out.append(
        _audit(
            profiles.filter(pl.col("aroma_confidence") < q.low_aroma_confidence),
            "data_quality",
            "low_aroma_confidence",
            "info",
            ["aroma_confidence", "aroma_level"],
        )
    )
    prof = (
        profiles.select(
            n=pl.len(),
            stale=(pl.col("as_of_date") < as_of - timedelta(days=q.stale_profile_days)).sum(),
            oldest=pl.col("as_of_date").min(),
            newest=pl.col("as_of_date").max(),
        )
        .collect()
        .row(0, named=True)
    )
    if prof["stale"]:
        out.append(
            _run_audit(
                "stale_profile",
                "warning",
                {
                    "profiles": prof["stale"],
                    "oldest_as_of": prof["oldest"],
                    "newest_as_of": prof["newest"],
                    "as_of": as_of,
                },
            )
        )
    with_history = history.customers.filter("in_scope", pl.col("n_orders") > 0).select("customer_code")
    no_profile = with_history.join(profiles.select("customer_code").collect(), on="customer_code", how="anti")
    if no_profile.height:
        out.append(
            _run_audit(
                "missing_profile",
                "warning",
                {
                    "customers": no_profile.height,
                    "examples": no_profile["customer_code"].sort().head(5).to_list(),
                },
            )
        )
    n_active = int(products["is_active"].sum())
    if n_active == 0:
        out.append(_run_audit("no_active_products", "error", {"products": products.height}))
    no_attr = products.filter("is_active", pl.col("family").is_null() & pl.col("aroma_fruity").is_null())
    if no_attr.height:
        out.append(
            _run_audit(
                "products_without_attributes",
                "info",
                {
                    "active_products": no_attr.height,
                    "examples": no_attr["product_key"].head(5).to_list(),
                },
            )
        )
    unknown_active = inputs.products.filter(pl.col("is_active").is_null()).select(pl.len()).collect().item()
    if unknown_active:
        out.append(_run_audit("product_activity_unknown", "warning", {"products": unknown_active}))
    return out


__all__ = ["ScoringResult", "score", "select_top", "date"]
