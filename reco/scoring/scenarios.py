"""The five scenarios: who each one fits, its candidates and its score components.

Every builder returns one row per (customer, candidate product) with ``cid``, ``pid``, ``tb``
(a scenario-specific tie-break, higher first), the contribution of each score component as
``c_<component>`` (the score is their sum) and, for co-occurrence, ``because_1``/``because_2``:
the customer's purchased products that contributed most. Formulas are in docs/scoring.md.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from datetime import date

import polars as pl

from reco.scoring import rebuy_model
from reco.scoring.config import ScoringConfig
from reco.scoring.features import History, decay, exact_sum, first_per_customer, neighbours


@dataclass
class Context:
    as_of: date
    config: ScoringConfig
    products: pl.DataFrame
    history: History
    pool: pl.DataFrame
    #: REBUY's weights (calibrated on the history, or the configured ones)
    rebuy: rebuy_model.RebuyModel | None = None
    #: the scale of REBUY's recency features: the run's window (reco.scoring.rhythm)
    window_days: int | None = None
    #: per scenario, "learnt" or "baseline": what self-validation chose (reco.scoring.validation);
    #: a scenario missing here uses its learnt builder
    modes: dict[str, str] = field(default_factory=dict)
    #: per scenario, its raw list score → probability calibration (reco.scoring.arbitration),
    #: from the validation window; a scenario missing here has no expected value
    calibrations: dict = field(default_factory=dict)
    #: the incrementality per scenario and segment (arbitration.incrementality)
    incrementality: pl.DataFrame | None = None


def _active(ctx: Context) -> pl.LazyFrame:
    return ctx.products.lazy().filter("is_active").select("pid")


def _without_recent(ctx: Context, cands: pl.LazyFrame) -> pl.LazyFrame:
    """Only active products, and nothing the customer bought in the last recent_purchase_days."""
    recent = (
        ctx.history.cp.lazy()
        .filter(pl.col("days_since") < ctx.config.rules.recent_purchase_days)
        .select("cid", "pid")
    )
    return cands.join(_active(ctx), on="pid", how="semi").join(recent, on=["cid", "pid"], how="anti")


def pool_candidates(ctx: Context, subset: pl.DataFrame) -> pl.LazyFrame:
    """Popular products within the customer's preferences: the overall top plus the top of
    their first two families."""
    pool = ctx.pool.lazy()
    customers = subset.lazy().select("cid", "family_1", "family_2")
    overall = customers.select("cid").join(
        pool.filter(pl.col("pool_family").is_null()).select("pid"), how="cross"
    )
    by_family = [
        customers.join(pool, left_on=col, right_on="pool_family").select("cid", "pid")
        for col in ("family_1", "family_2")
    ]
    return pl.concat([overall, *by_family]).unique(["cid", "pid"])


def preference(ctx: Context) -> pl.Expr:
    """0..1: half the customer's spend share of the product's family, half how close its price
    is to the customer's average price (1 at the same price, 0 at half or double)."""
    fit = (1 - (pl.col("price") / pl.col("avg_price")).log().abs() / math.log(2)).clip(0, 1)
    return 0.5 * pl.col("family_share").fill_null(0) + 0.5 * fit.fill_null(0).fill_nan(0)


def _with_product_and_preference(ctx: Context, cands: pl.LazyFrame) -> pl.LazyFrame:
    products = ctx.products.lazy().select("pid", "family", "cepage", "tier", "price", "pop", "season")
    return (
        cands.join(products, on="pid")
        .join(
            ctx.history.customers.lazy().select("cid", "avg_price", "usual_tier"),
            on="cid",
            how="left",
        )
        .join(
            ctx.history.family_share.lazy().rename({"share": "family_share"}),
            on=["cid", "family"],
            how="left",
        )
    )


def cooccurrence(ctx: Context, subset: pl.DataFrame) -> pl.LazyFrame:
    """Co-occurrence candidates never bought by the customer: ``cooc`` = Σ over their most
    recent ``seed_items`` products s of decay(s) × sim(s, candidate), divided by the customer's
    best so that it lies in 0..1; ``because_1``/``because_2`` are the top contributing seeds."""
    cache = ctx.history._cache
    done: pl.DataFrame | None = cache.get("cooc_cids")
    todo = subset.select("cid") if done is None else subset.select("cid").join(done, on="cid", how="anti")
    if todo.height:
        cs = ctx.config.cross_sell
        nb = neighbours(ctx.history, ctx.products, ctx.as_of, ctx.config).lazy()
        cp = ctx.history.cp.lazy().join(todo.lazy(), on="cid", how="semi")
        seeds = first_per_customer(cp, ["last_date", "pid"], [True, False], cs.seed_items).select(
            "cid", seed="pid", seed_w=decay(pl.col("days_since"), cs.half_life_days)
        )
        # one (cid, pid) key: an anti-join, a sort and a grouping on one integer column
        key = pl.col("cid").cast(pl.UInt64) * 2**32 + pl.col("pid")
        scores = (
            seeds.join(nb, left_on="seed", right_on="pid")
            .select(
                "seed",
                key=pl.col("cid").cast(pl.UInt64) * 2**32 + pl.col("nb"),
                contrib=pl.col("seed_w") * pl.col("sim"),
            )
            .join(cp.select(key=key), on="key", how="anti")
            .sort(["key", "contrib", "seed"], descending=[False, True, False])
            .group_by("key", maintain_order=True)
            .agg(cooc=exact_sum(pl.col("contrib")), because=pl.col("seed").head(2))
            .select(
                cid=(pl.col("key") // 2**32).cast(pl.UInt32),
                pid=(pl.col("key") % 2**32).cast(pl.UInt32),
                cooc="cooc",
                because_1=pl.col("because").list.get(0, null_on_oob=True),
                because_2=pl.col("because").list.get(1, null_on_oob=True),
            )
            .with_columns(cooc=(pl.col("cooc") / pl.col("cooc").max().over("cid")).round(9))
            .collect()
        )
        cache["cooc"] = scores if done is None else pl.concat([cache["cooc"], scores])
        cache["cooc_cids"] = todo if done is None else pl.concat([done, todo])
    return cache["cooc"].lazy().join(subset.lazy().select("cid"), on="cid", how="semi")


def rebuy(ctx: Context, subset: pl.DataFrame) -> pl.LazyFrame:
    """Own products (recent ones included) by their chance of being bought again: each
    component is a weight of REBUY's model times a feature (reco.scoring.rebuy_model), the
    score is their sum, the log-odds. A customer whose three best products give less than
    ``min_hit_probability`` of a re-purchase gets no candidate (the next scenario takes them)."""
    cfg = ctx.config.rebuy
    model = ctx.rebuy or rebuy_model.configured(ctx.config)
    own = (
        ctx.history.cp.lazy()
        .join(subset.lazy(), on="cid", how="semi")
        .join(_active(ctx), on="pid", how="semi")
    )
    cands = rebuy_model.features(
        own,
        ctx.history.customers.lazy(),
        repeat_rate(ctx),
        ctx.products.lazy(),
        ctx.config,
        ctx.window_days or ctx.config.rhythm.horizon_days,
    ).select(
        "cid",
        "pid",
        tb=pl.col("last_date").cast(pl.Int32).cast(pl.Float64),
        c_baseline=pl.lit(model.weights["baseline"]),
        **{f"c_{f}": model.weights[f] * pl.col(f"f_{f}") for f in rebuy_model.FEATURES},
    )
    if cfg.min_hit_probability <= 0:
        return cands
    p = 1 / (1 + (-pl.sum_horizontal(pl.col("^c_.*$"))).exp())
    likely = (
        cands.with_columns(p=p)
        .group_by("cid")
        .agg(miss=(1 - pl.col("p").top_k(ctx.config.rules.top_n)).product())
        .filter(1 - pl.col("miss") >= cfg.min_hit_probability)
    )
    return cands.join(likely, on="cid", how="semi")


def repeat_rate(ctx: Context) -> pl.LazyFrame:
    """Per product, the share of its buyers who bought it again (rebuy_model.repeat_rates over
    every customer's history): staples score high, one-off purchases low."""
    cache = ctx.history._cache
    if "repeat_rate" not in cache:  # global: computed once, over every customer's history
        rates = rebuy_model.repeat_rates(ctx.history.cp.lazy(), ctx.config.rebuy.repeat_prior)
        cache["repeat_rate"] = rates.collect()
    return cache["repeat_rate"].lazy()


def winback(ctx: Context, subset: pl.DataFrame) -> pl.LazyFrame:
    """Popular products matching past preferences and budget, and the customer's own past
    favourites (nothing is recent for a lapsed customer)."""
    cfg = ctx.config.winback
    own = (
        ctx.history.cp.lazy()
        .join(subset.lazy(), on="cid", how="semi")
        .select("cid", "pid", own=pl.col("decayed_orders") / pl.col("decayed_orders").max().over("cid"))
    )
    cands = pl.concat([own.select("cid", "pid"), pool_candidates(ctx, subset)]).unique(["cid", "pid"])
    return (
        _with_product_and_preference(ctx, _without_recent(ctx, cands))
        .join(own, on=["cid", "pid"], how="left")
        .select(
            "cid",
            "pid",
            tb=pl.lit(0.0),
            c_own=cfg.w_own * pl.col("own").fill_null(0),
            c_popularity=cfg.w_popularity * pl.col("pop"),
            c_preference=cfg.w_preference * preference(ctx),
        )
    )


def nurture(ctx: Context, subset: pl.DataFrame) -> pl.LazyFrame:
    """Popular, seasonal and profile-matched products, plus neighbours of what a one-time
    customer bought."""
    cfg = ctx.config.nurture
    cooc = cooccurrence(ctx, subset)
    cands = pl.concat([pool_candidates(ctx, subset), cooc.select("cid", "pid")]).unique(["cid", "pid"])
    return (
        _with_product_and_preference(ctx, _without_recent(ctx, cands))
        .join(cooc, on=["cid", "pid"], how="left")
        .select(
            "cid",
            "pid",
            "because_1",
            "because_2",
            tb=pl.lit(0.0),
            c_popularity=cfg.w_popularity * pl.col("pop"),
            c_season=cfg.w_season * pl.col("season").cast(pl.Float64),
            c_profile=cfg.w_profile * preference(ctx),
            c_cooccurrence=cfg.w_cooccurrence * pl.col("cooc").fill_null(0),
        )
    )


def upsell(ctx: Context, subset: pl.DataFrame) -> pl.LazyFrame:
    """Products of the customer's usual families or grape, at a premium tier above their usual
    one, priced within avg_price × (1 + budget_stretch)."""
    cfg = ctx.config.upsell
    size = ctx.config.rules.popular_pool_size
    subset = subset.filter(pl.col("usual_tier").is_not_null())
    ranked = ctx.products.lazy().filter("is_active", pl.col("tier").is_not_null()).sort("pop_rank")
    by_family = (
        ranked.filter(pl.col("family").is_not_null())
        .group_by("family", "tier", maintain_order=True)
        .head(size)
    )
    by_grape = (
        ranked.filter(pl.col("cepage").is_not_null())
        .group_by("cepage", "tier", maintain_order=True)
        .head(size)
    )
    fams = first_per_customer(
        ctx.history.family_share.lazy().join(subset.lazy(), on="cid", how="semi"),
        ["share", "family"],
        [True, False],
        2,
    )
    grapes = ctx.history.grape_share.lazy().join(subset.lazy(), on="cid", how="semi")
    # the tier rule right on the picks, before the feature joins: most (family | grape, tier) fail it
    usual = subset.lazy().select("cid", "usual_tier")
    above = pl.col("tier") >= pl.col("usual_tier") + cfg.min_tier_step
    cands = pl.concat(
        [
            fams.join(usual, on="cid")
            .join(by_family.select("pid", "family", "tier"), on="family")
            .filter(above)
            .select("cid", "pid"),
            grapes.join(usual, on="cid")
            .join(by_grape.select("pid", "cepage", "tier"), on="cepage")
            .filter(above)
            .select("cid", "pid"),
        ]
    ).unique(["cid", "pid"])
    cooc = cooccurrence(ctx, subset)
    budget = pl.col("price") <= pl.col("avg_price") * (1 + cfg.budget_stretch)
    return (
        _with_product_and_preference(ctx, _without_recent(ctx, cands))
        .filter(budget.fill_null(True))
        .join(
            ctx.history.grape_share.lazy().rename({"share": "grape_share"}),
            on=["cid", "cepage"],
            how="left",
        )
        .join(cooc, on=["cid", "pid"], how="left")
        .select(
            "cid",
            "pid",
            "because_1",
            "because_2",
            tb=pl.lit(0.0),
            c_family=cfg.w_family * pl.col("family_share").fill_null(0),
            c_grape=cfg.w_grape * pl.col("grape_share").fill_null(0),
            c_popularity=cfg.w_popularity * pl.col("pop"),
            c_cooccurrence=cfg.w_cooccurrence * pl.col("cooc").fill_null(0),
        )
    )


def cross_sell(ctx: Context, subset: pl.DataFrame) -> pl.LazyFrame:
    """What others bought with the customer's products (never what they own), plus a little
    popularity."""
    cfg = ctx.config.cross_sell
    products = ctx.products.lazy().select("pid", "pop")
    return (
        cooccurrence(ctx, subset)
        .join(_active(ctx), on="pid", how="semi")
        .join(products, on="pid")
        .select(
            "cid",
            "pid",
            "because_1",
            "because_2",
            tb=pl.lit(0.0),
            c_cooccurrence=cfg.w_cooccurrence * pl.col("cooc"),
            c_popularity=cfg.w_popularity * pl.col("pop"),
        )
    )


def fallback(ctx: Context, subset: pl.DataFrame) -> pl.LazyFrame:
    """Popular products within the customer's preferences, to fill short lists."""
    cands = _without_recent(ctx, pool_candidates(ctx, subset))
    return _with_product_and_preference(ctx, cands).select(
        "cid",
        "pid",
        tb=pl.lit(0.0),
        c_popularity=0.5 * pl.col("pop"),
        c_preference=0.5 * preference(ctx),
    )


BUILDERS = {
    "REBUY": rebuy,
    "WINBACK": winback,
    "NURTURE": nurture,
    "UPSELL": upsell,
    "CROSS_SELL": cross_sell,
}


# -- the simple baselines self-validation compares each scenario with ---------------------------


def repeat(ctx: Context, subset: pl.DataFrame) -> pl.LazyFrame:
    """REPEAT (ANCHORS.md): the customer's own active products by number of orders (the
    score), ties by most recent purchase (``tb``), then popularity rank. No probability floor:
    the model that would set it is the one self-validation did not trust."""
    return (
        ctx.history.cp.lazy()
        .join(subset.lazy().select("cid"), on="cid", how="semi")
        .join(_active(ctx), on="pid", how="semi")
        .select(
            "cid",
            "pid",
            tb=pl.col("last_date").cast(pl.Int32).cast(pl.Float64),
            c_orders=pl.col("n_orders").cast(pl.Float64),
        )
    )


def popular(ctx: Context, subset: pl.DataFrame) -> pl.LazyFrame:
    """POP: the most popular active products (the overall pool), less recent purchases."""
    pool = ctx.pool.lazy().filter(pl.col("pool_family").is_null()).select("pid")
    cands = subset.lazy().select("cid").join(pool, how="cross")
    return (
        _without_recent(ctx, cands)
        .join(ctx.products.lazy().select("pid", "pop"), on="pid")
        .select("cid", "pid", tb=pl.lit(0.0), c_popularity=pl.col("pop"))
    )


def cooccurring(ctx: Context, subset: pl.DataFrame) -> pl.LazyFrame:
    """SAR-like: co-occurrence neighbours of the customer's products by similarity alone
    (never a product they own)."""
    return (
        cooccurrence(ctx, subset)
        .join(_active(ctx), on="pid", how="semi")
        .select("cid", "pid", "because_1", "because_2", tb=pl.lit(0.0), c_cooccurrence=pl.col("cooc"))
    )


def cooccurring_up(ctx: Context, subset: pl.DataFrame) -> pl.LazyFrame:
    """:func:`cooccurring` restricted to a premium tier at least ``min_tier_step`` above the
    customer's usual one: SAR restricted to higher tiers, so an UPSELL list stays an upsell."""
    step = ctx.config.upsell.min_tier_step
    return (
        cooccurring(ctx, subset.filter(pl.col("usual_tier").is_not_null()))
        .join(ctx.products.lazy().select("pid", "tier"), on="pid")
        .join(ctx.history.customers.lazy().select("cid", "usual_tier"), on="cid")
        .filter(pl.col("tier") >= pl.col("usual_tier") + step)
        .drop("tier", "usual_tier")
    )


#: Each scenario's simple baseline: (name, builder).
BASELINES = {
    "REBUY": ("REPEAT", repeat),
    "WINBACK": ("POP", popular),
    "NURTURE": ("POP", popular),
    "UPSELL": ("COOCCURRENCE_UP", cooccurring_up),
    "CROSS_SELL": ("COOCCURRENCE", cooccurring),
}


def build(ctx: Context, scenario: str, subset: pl.DataFrame, mode: str | None = None) -> pl.LazyFrame:
    """The candidates of ``scenario`` for ``subset``: its learnt builder, or its baseline when
    ``mode`` (default: the one self-validation chose, ``ctx.modes``) is "baseline"."""
    mode = mode or ctx.modes.get(scenario, "learnt")
    return (BASELINES[scenario][1] if mode == "baseline" else BUILDERS[scenario])(ctx, subset)


def fits(scenario: str, config: ScoringConfig) -> pl.Expr:
    """Which customers a scenario is for (before checking it has candidates for them).
    Lapsed: more days since the last purchase than the customer's ``lapsed_after``
    (reco.scoring.rhythm)."""
    has_history = pl.col("n_orders") > 0
    return {
        "WINBACK": has_history & (pl.col("days_since_last") > pl.col("lapsed_after")),
        "REBUY": has_history,
        "NURTURE": pl.col("n_orders") <= config.nurture.max_orders,
        "UPSELL": has_history & pl.col("usual_tier").is_not_null(),
        "CROSS_SELL": has_history,
    }[scenario]
