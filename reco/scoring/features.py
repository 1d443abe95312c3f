"""Features the scenarios share: products with popularity, purchase history per customer and
product, customer statistics and preferences, and item neighbours (co-occurrence + attributes).

Customers and products get dense integer ids (``cid``, ``pid``) in the order of their codes, so
that joins are on integers and "lowest id" is a deterministic, meaningful tie-break.
"""

from __future__ import annotations

from dataclasses import dataclass, field, replace
from datetime import date

import polars as pl

from reco.scoring.config import ScoringConfig
from reco.vocab import AROMA_AXES

#: Season tags matched on each month of as_of (season_tags is free text in the catalogue).
SEASON_OF_MONTH = {
    1: ("winter",),
    2: ("winter",),
    3: ("spring",),
    4: ("spring", "easter"),
    5: ("spring",),
    6: ("summer",),
    7: ("summer",),
    8: ("summer",),
    9: ("autumn",),
    10: ("autumn",),
    11: ("autumn", "christmas"),
    12: ("winter", "christmas"),
}


def ordinal(by: list, descending: list[bool]) -> pl.Expr:
    """1, 2, 3… in the order of ``by`` (no ties: list a unique key last); use with ``.over``."""
    return pl.arg_sort_by(by, descending=descending).arg_sort() + 1


def first_per_customer(frame: pl.LazyFrame, by: list[str], descending: list[bool], n: int) -> pl.LazyFrame:
    """The first ``n`` rows of each ``cid`` in the order of ``by`` (a sort and a grouped head:
    much faster than a ranking window over a million small groups)."""
    return (
        frame.sort(["cid", *by], descending=[False, *descending]).group_by("cid", maintain_order=True).head(n)
    )


def age_days(as_of: date, col: str = "order_date") -> pl.Expr:
    return (pl.lit(as_of) - pl.col(col)).dt.total_days()


#: Fixed-point scales of :func:`exact_sum`: money to 1e-6, weights in 0..1 to 1e-9.
MONEY, WEIGHT = 1e6, 1e9


def exact_sum(expr: pl.Expr, scale: float = WEIGHT) -> pl.Expr:
    """The sum of a float column in fixed point (an integer sum of values rounded to
    1 / ``scale``): unlike a float sum it does not depend on the order in which a parallel
    group-by adds the values up, so the same inputs give the same output, bit for bit."""
    return (expr * scale).round().cast(pl.Int64, strict=False).sum() / scale


def decay(age: pl.Expr, half_life: float) -> pl.Expr:
    """0.5 ** (age / half_life): 1 today, 1/2 after one half-life."""
    return pl.lit(0.5).pow(age.cast(pl.Float64) / half_life)


def seasonal(as_of: date) -> pl.Expr:
    tags = pl.col("season_tags").str.to_lowercase()
    return pl.any_horizontal(
        tags.str.contains(f'"{t}"', literal=True).fill_null(False) for t in SEASON_OF_MONTH[as_of.month]
    )


def prepare_products(
    products: pl.LazyFrame, lines: pl.LazyFrame, as_of: date, config: ScoringConfig
) -> pl.DataFrame:
    """One row per product with ``pid``, attributes, ``season``, ``pop`` (0..1: distinct buyers
    over the popularity window / the most) and ``pop_rank`` (1 = most popular; ties broken by
    all-time buyers, the mart's global_popularity_score, then product_key)."""
    window = config.rules.popularity_days
    buyers = (
        lines.filter(pl.col("product_key").is_not_null())
        .group_by("product_key")
        .agg(
            buyers_recent=pl.col("customer_code").filter(age_days(as_of) <= window).n_unique(),
            buyers_all=pl.col("customer_code").n_unique(),
        )
    )
    return (
        products.unique("product_key", keep="first", maintain_order=True)
        .sort("product_key")
        .with_row_index("pid")
        .join(buyers, on="product_key", how="left")
        .with_columns(
            pl.col("buyers_recent", "buyers_all").fill_null(0),
            is_active=pl.col("is_active").fill_null(False),
            family=pl.col("family_crm"),
            tier=pl.col("premium_tier"),
            price=pl.col("unit_price"),
            season=seasonal(as_of),
        )
        .with_columns(
            pop=(pl.col("buyers_recent") / pl.col("buyers_recent").max().clip(lower_bound=1)),
            pop_rank=ordinal(
                [
                    "buyers_recent",
                    "buyers_all",
                    pl.col("global_popularity_score").fill_null(0),
                    "pid",
                ],
                [True, True, True, False],
            ).cast(pl.UInt32),
        )
        .sort("pid")
        .collect()
    )


@dataclass
class History:
    """Purchase history of every customer (eligible or not)."""

    customers: pl.DataFrame  # cid, customer_code, in_scope + statistics
    cp: pl.DataFrame  # one row per (cid, pid) bought
    family_share: pl.DataFrame  # cid, family, share (of spend)
    grape_share: pl.DataFrame  # cid, cepage, share
    unmapped: pl.DataFrame  # customer_code, n_unmapped_lines, n_unknown_lines
    _cache: dict = field(default_factory=dict)


def build_history(
    lines: pl.LazyFrame,
    products: pl.DataFrame,
    scope: pl.LazyFrame,
    as_of: date,
    config: ScoringConfig,
) -> History:
    """``scope``: customer_code of the customers to score (``in_scope``); every customer with
    history is kept too, as co-occurrence and popularity learn from all of them."""
    codes = (
        pl.concat(
            [
                scope.select("customer_code", in_scope=pl.lit(True)),
                lines.select("customer_code", in_scope=pl.lit(False)),
            ]
        )
        .group_by("customer_code")
        .agg(pl.col("in_scope").any())
        .sort("customer_code")
        .with_row_index("cid")
        .collect()
        .lazy()
    )
    keys = products.lazy().select("product_key", "pid")
    # materialised once: every later feature reads these two instead of re-joining strings
    all_lines = lines.join(codes.select("customer_code", "cid"), on="customer_code").collect().lazy()
    mapped = all_lines.join(keys, on="product_key", how="inner")
    unmapped = (
        all_lines.join(keys, on="product_key", how="anti", nulls_equal=False)
        .group_by("customer_code")
        .agg(
            n_unmapped_lines=pl.col("product_key").is_null().sum(),
            n_unknown_lines=pl.col("product_key").is_not_null().sum(),
            unknown_examples=pl.col("product_key").drop_nulls().unique().sort().head(3),
        )
    )
    events = mapped.group_by("cid", "pid", "doc_ref").agg(
        order_date=pl.col("order_date").min(), amount=exact_sum(pl.col("amount_ht"), MONEY)
    )
    hl = config.rebuy.half_life_days
    cp = (
        events.group_by("cid", "pid")
        .agg(
            n_orders=pl.len().cast(pl.UInt32),
            first_date=pl.col("order_date").min(),
            last_date=pl.col("order_date").max(),
            amount=exact_sum(pl.col("amount"), MONEY),
            decayed_orders=exact_sum(decay(age_days(as_of), hl)),
        )
        .with_columns(days_since=age_days(as_of, "last_date"))
        .with_columns(
            interval=pl.when(pl.col("n_orders") >= 2).then(
                (pl.col("last_date") - pl.col("first_date")).dt.total_days() / (pl.col("n_orders") - 1)
            ),
        )
        .with_columns(
            due_ratio=pl.col("days_since") / pl.col("interval").clip(lower_bound=1),
        )
        .collect()
        .lazy()
    )
    attrs = products.lazy().select("pid", "family", "cepage", "tier")
    cp_attr = cp.join(attrs, on="pid")
    stats = all_lines.group_by("cid").agg(
        n_orders=pl.col("doc_ref").n_unique().cast(pl.UInt32),
        first_date=pl.col("order_date").min(),
        last_date=pl.col("order_date").max(),
        avg_price=exact_sum(pl.col("unit_price") * pl.col("quantity"), MONEY)
        / exact_sum(pl.col("quantity").filter(pl.col("unit_price").is_not_null()), MONEY),
    )
    tiers = (
        cp_attr.filter(pl.col("tier").is_not_null())
        .group_by("cid")
        .agg(
            usual_tier=(
                exact_sum(pl.col("tier") * pl.col("amount").clip(lower_bound=0), MONEY)
                / exact_sum(pl.col("amount").clip(lower_bound=0), MONEY)
            ).round(0)
        )
    )
    rebuy = config.rebuy
    due = cp.group_by("cid").agg(
        has_favourite=(pl.col("n_orders") >= rebuy.min_orders).any(),
    )

    def shares(col: str) -> pl.LazyFrame:
        spend = pl.col("amount").clip(lower_bound=0)
        return (
            cp_attr.filter(pl.col(col).is_not_null())
            .group_by("cid", col)
            .agg(spend=exact_sum(spend, MONEY), orders=pl.col("n_orders").sum())
            .with_columns(total=exact_sum(pl.col("spend"), MONEY).over("cid"))
            .with_columns(
                share=pl.when(pl.col("total") > 0)
                .then(pl.col("spend") / pl.col("total"))
                .otherwise(pl.col("orders") / pl.col("orders").sum().over("cid"))
            )
            .select("cid", col, "share")
        )

    family_share, grape_share = shares("family"), shares("cepage")

    def top(frame: pl.LazyFrame, col: str, n: int) -> pl.LazyFrame:
        return (
            first_per_customer(frame, ["share", col], [True, False], n)
            .group_by("cid", maintain_order=True)
            .agg(pl.col(col))
            .select(
                "cid",
                *[pl.col(col).list.get(i, null_on_oob=True).alias(f"{col}_{i + 1}") for i in range(n)],
            )
        )

    customers_lf = (
        codes.join(stats, on="cid", how="left")
        .join(tiers, on="cid", how="left")
        .join(due, on="cid", how="left")
        .join(propensities(cp_attr, tiers, as_of, config.cross_sell.half_life_days), on="cid", how="left")
        .join(top(family_share, "family", 2), on="cid", how="left")
        .join(top(grape_share, "cepage", 1), on="cid", how="left")
        .with_columns(
            pl.col("n_orders").fill_null(0),
            pl.col("has_favourite").fill_null(False),
            days_since_last=age_days(as_of, "last_date"),
        )
        .sort("cid")
    )
    customers, cp_df, fam, grape, unm = pl.collect_all(
        [customers_lf, cp, family_share, grape_share, unmapped]
    )
    return History(customers, cp_df, fam, grape, unm)


def propensities(cp_attr: pl.LazyFrame, tiers: pl.LazyFrame, as_of: date, half_life: float) -> pl.LazyFrame:
    """Per customer with history, how much they have lately been buying products new to them
    (docs/scoring.md, "Arbitration"): ``novelty`` is the number of products they have bought,
    each weighed by 0.5 ** (days since first bought / ``half_life``), times the share of their
    purchases (a product in an order) that were a first purchase of it; ``uptrade`` the same
    over the products above their usual tier. A customer who explores often and lately scores
    high; one who re-buys the same products, or stopped, low; one whose new products climb the
    tiers high in ``uptrade``."""
    weight = decay(age_days(as_of, "first_date"), half_life)
    return (
        cp_attr.join(tiers, on="cid", how="left")
        .group_by("cid")
        .agg(
            share=pl.len() / pl.col("n_orders").sum(),
            recent=exact_sum(weight),
            recent_up=exact_sum(weight.filter(pl.col("tier") > pl.col("usual_tier"))),
        )
        .select(
            "cid",
            novelty=(pl.col("recent") * pl.col("share")).round(9),
            uptrade=(pl.col("recent_up") * pl.col("share")).round(9),
        )
    )


def shared_cache(shared: dict, name: str, as_of: date, config: ScoringConfig) -> dict:
    """The cache of global tables (History._cache: neighbours, repeat rates, co-occurrence
    scores) that every scoring passing the same ``shared`` dict uses under ``name``, so that
    the first computes them and the others reuse them (reco.backtest's five scenario lists).
    They depend on the inputs, ``as_of`` and the configuration but not on its ``priority``:
    a scoring whose ``as_of`` or configuration differs otherwise is refused."""
    key = (as_of, replace(config, priority=()))
    if shared.setdefault(("key", name), key) != key:
        raise ValueError(
            f"shared tables {name!r}: reused as of another date or with a configuration that"
            " differs in more than its priority"
        )
    return shared.setdefault(name, {})


def popular_pool(products: pl.DataFrame, size: int) -> pl.DataFrame:
    """Most popular active products overall (``family`` null) and within each family."""
    active = products.lazy().filter("is_active")
    overall = active.sort("pop_rank").head(size).select("pid", pool_family=pl.lit(None, pl.String))
    by_family = (
        active.filter(pl.col("family").is_not_null())
        .sort("pop_rank")
        .group_by("family", maintain_order=True)
        .head(size)
        .select("pid", pool_family="family")
    )
    return pl.concat([overall, by_family]).collect()


def neighbours(history: History, products: pl.DataFrame, as_of: date, config: ScoringConfig) -> pl.DataFrame:
    """Item neighbours: ``pid`` → ``nb`` with similarity ``sim``, ``source`` and ``co_n``
    (co-occurrence: the customers who bought both; attributes: null).

    Co-occurrence: time-decayed Jaccard over customers. Each customer's products (their most
    recent ``max_items_per_customer``) weigh w = 0.5 ** (days since bought / half_life);
    co(a, b) = Σ_customers min(w_a, w_b), n(a) = Σ_customers w_a and
    sim = co(a, b) / (n(a) + n(b) - co(a, b)), kept when at least ``min_cooccurrence``
    distinct customers bought both (Jaccard, unlike lift, does not favour one-buyer products).

    Attributes: products with fewer than ``attribute_min_buyers`` buyers also get neighbours by
    attributes, sim = attribute_weight × mean(same family, same grape, aroma closeness), where
    aroma closeness = 1 - mean |aroma difference| / 4 over the 7 axes; a missing attribute is
    left out of the mean, and products without any attribute get none; computed between
    attribute profiles, not products (:func:`attribute_neighbours`).
    """
    if "neighbours" in history._cache:
        return history._cache["neighbours"]
    cs = config.cross_sell
    basket = history.cp.lazy().select(
        "cid", "pid", "last_date", w=decay(age_days(as_of, "last_date"), cs.half_life_days)
    )
    basket = first_per_customer(basket, ["last_date", "pid"], [True, False], cs.max_items_per_customer)
    weight = basket.group_by("pid").agg(n=exact_sum(pl.col("w")), buyers=pl.len())
    pairs = (
        basket.join(basket, on="cid", suffix="_b")
        .filter(pl.col("pid") < pl.col("pid_b"))
        .group_by("pid", "pid_b")
        .agg(co_n=pl.len(), co=exact_sum(pl.min_horizontal("w", "w_b")))
        .filter(pl.col("co_n") >= cs.min_cooccurrence)
        .join(weight.select("pid", n_a="n"), on="pid")
        .join(weight.select(pid_b="pid", n_b="n"), on="pid_b")
        .select("pid", "pid_b", "co_n", sim=pl.col("co") / (pl.col("n_a") + pl.col("n_b") - pl.col("co")))
    )
    active = products.lazy().filter("is_active").select(nb="pid")
    cooc = (
        pl.concat(
            [
                pairs.select("pid", nb="pid_b", sim="sim", co_n="co_n"),
                pairs.select(pid="pid_b", nb="pid", sim="sim", co_n="co_n"),
            ]
        )
        .join(active, on="nb", how="semi")
        .with_columns(source=pl.lit("cooccurrence"))
    )
    thin = (
        products.lazy()
        .select("pid")
        .join(weight.select("pid", "buyers"), on="pid", how="left")
        .filter(pl.col("buyers").fill_null(0) < cs.attribute_min_buyers)
        .select("pid")
    )
    attribute = attribute_neighbours(products, thin, active, cs.attribute_weight, cs.neighbours_per_item)
    result = (
        pl.concat([cooc, attribute])
        .sort(["pid", "sim", "nb"], descending=[False, True, False])
        .unique(["pid", "nb"], keep="first", maintain_order=True)
        .group_by("pid", maintain_order=True)
        .head(cs.neighbours_per_item)
        .with_columns(pl.col("sim").round(12))
        .collect()
    )
    history._cache["neighbours"] = result
    return result


#: The attributes an attribute neighbour is judged on: two products with the same values (a
#: *profile*) have the same similarity to every other product.
PROFILE = ("family", "cepage", *[f"aroma_{a}" for a in AROMA_AXES])


def attribute_neighbours(
    products: pl.DataFrame, thin: pl.LazyFrame, active: pl.LazyFrame, weight: float, n: int
) -> pl.LazyFrame:
    """For each ``thin`` product (``pid``), its ``n`` best attribute neighbours among the
    ``active`` products (``nb``), ties by product, itself left out: ``pid, nb, sim, co_n,
    source``. sim = ``weight`` × mean(same family, same grape, aroma closeness).

    The similarity only depends on the two products' attribute profiles (:data:`PROFILE`),
    so it is computed between distinct profiles, not between products: a grocery catalogue
    of 23 k products in 2 k subclasses compares 2 k × 2 k profiles instead of 23 k × 23 k
    products. Each thin profile keeps the best profiles until they hold ``n + 1`` products
    (one may be the product itself), ties at that bound included, so the ``n`` best are
    exactly those of the full comparison."""
    profiles = products.lazy().group_by(*PROFILE, maintain_order=True).agg("pid").with_row_index("profile")
    members = profiles.select("profile", "pid").explode("pid")
    mine = members.join(thin, on="pid", how="semi")
    candidates = members.join(active, left_on="pid", right_on="nb", how="semi")
    left = profiles.drop("pid").join(mine.select("profile").unique(), on="profile", how="semi")
    right = (
        profiles.drop("pid")
        .join(candidates.group_by("profile").agg(size=pl.len()), on="profile")
        .rename(lambda c: f"{c}_b")
    )
    aroma = (
        1 - pl.mean_horizontal((pl.col(f"aroma_{a}") - pl.col(f"aroma_{a}_b")).abs() for a in AROMA_AXES) / 4
    )
    pairs = (
        left.join(right, how="cross")
        .select(
            "profile",
            "profile_b",
            "size_b",
            sim=weight
            * pl.mean_horizontal(
                (pl.col("family") == pl.col("family_b")).cast(pl.Float64),
                (pl.col("cepage") == pl.col("cepage_b")).cast(pl.Float64),
                aroma,
            ),
        )
        .filter(pl.col("sim") > 0)
        .sort(["profile", "sim", "profile_b"], descending=[False, True, False])
        .with_columns(held=pl.col("size_b").cum_sum().over("profile"))
        .with_columns(bound=pl.col("sim").filter(pl.col("held") >= n + 1).first().over("profile"))
        .filter(pl.col("bound").is_null() | (pl.col("sim") >= pl.col("bound")))
    )
    best = (
        pairs.join(candidates.rename({"profile": "profile_b", "pid": "nb"}), on="profile_b")
        .sort(["profile", "sim", "nb"], descending=[False, True, False])
        .group_by("profile", maintain_order=True)
        .head(n + 1)
    )
    return (
        mine.join(best, on="profile")
        .filter(pl.col("pid") != pl.col("nb"))
        .select("pid", "nb", "sim", co_n=pl.lit(None, pl.UInt32), source=pl.lit("attribute"))
    )
