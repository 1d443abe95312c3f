"""``score``: eligibility → scenario assignment → candidates → business rules → top-N, with
audits. Pure function of the inputs and the configuration (no database access)."""

from __future__ import annotations

from dataclasses import dataclass, replace
from datetime import date, timedelta

import polars as pl

from reco.scoring import arbitration, rebuy_model, validation, why
from reco.scoring.assign import (
    _score_chunk,
    by_value,
    select_top,
    with_rhythm,
    with_segment,
    without_floor,
)
from reco.scoring.config import ScoringConfig
from reco.scoring.eligibility import eligibility
from reco.scoring.features import build_history, neighbours, popular_pool, prepare_products, shared_cache
from reco.scoring.inputs import ScoringInputs
from reco.scoring.scenarios import BUILDERS, Context, repeat_rate

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


def score(
    inputs: ScoringInputs,
    config: ScoringConfig,
    *,
    apply_contact_rules: bool = True,
    chunk_size: int | None = CHUNK_CUSTOMERS,
    shared: dict | None = None,
) -> ScoringResult:
    """Recommend ``top_n`` products to every eligible customer (every customer with history
    when ``apply_contact_rules`` is false: no eligibility, no silence window). Customers are
    scored ``chunk_size`` at a time (None: all at once); the output does not depend on it.
    Scorings of the same inputs whose configurations differ only in ``priority`` may pass one
    ``shared`` dict: the global tables are computed once (features.shared_cache)."""
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
    if shared is not None:
        history._cache = shared_cache(shared, "scoring", as_of, config)
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
        lines, inputs.products, as_of, config, window, incr, segments, shared
    )
    run_config = without_floor(config) if calibrations else config
    verdict = (checked.get("assignment") or {}) if config.validation.guard else {}
    fallback = verdict.get("choice")
    priority = replace(config.arbitration, method="priority")
    if fallback == "assignment" and verdict.get("off"):
        # by expected value, without the scenarios whose customers did better with REPEAT
        off = tuple(sorted(set(run_config.arbitration.off) | set(verdict["off"])))
        run_config = replace(run_config, arbitration=replace(run_config.arbitration, off=off))
    elif fallback == "priority":
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
    items.clear()  # the chunks' reasons before their why: no longer read
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
    # what the counts read of the items: their texts live on in items_out only
    items_df = items_df.select("cid", "fill", "scenario", "score")
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
