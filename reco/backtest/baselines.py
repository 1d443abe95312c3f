"""The baselines of the anchors, on the same split and customers as the platform.

Every function returns exactly ``k`` distinct products from the training catalogue for every
customer in ``customers`` (a frame with ``customer_code``), as a DataFrame
``customer_code, rank, product_key`` with rank 1..k. A method that runs out of candidates
fills its free slots with the most popular products the customer has not bought (POP order).

- :func:`pop`: most distinct buyers in the ``recent_days`` before the cutoff.
- :func:`repeat`: the customer's own products by number of orders, ties by most recent
  purchase, then by POP rank (the anchors' definition, ``ANCHORS.md``).
- :func:`sar`: SAR-like item co-occurrence, Jaccard similarity, time-decayed affinity
  (half-life 90 days), already-bought products excluded.
- :func:`random_floor`: ``k`` products drawn uniformly from the catalogue.
"""

from __future__ import annotations

import numpy as np
import polars as pl

from reco.backtest.protocol import Split

K = 3
RECS_SCHEMA = {"customer_code": pl.String, "rank": pl.Int32, "product_key": pl.String}


def popularity(split: Split, recent_days: int = 90) -> pl.LazyFrame:
    """Products by distinct buyers in the last ``recent_days`` before the cutoff, then by
    distinct buyers over all training, then product key: ``product_key, pop_rank``."""
    start = pl.lit(split.cutoff) - pl.duration(days=recent_days)
    return (
        split.train.group_by("product_key")
        .agg(
            recent=pl.col("customer_code").filter(pl.col("order_date") >= start).n_unique(),
            buyers=pl.col("customer_code").n_unique(),
        )
        .sort(["recent", "buyers", "product_key"], descending=[True, True, False])
        .with_columns(pop_rank=pl.int_range(pl.len(), dtype=pl.Int64))
        .select("product_key", "pop_rank")
    )


def _fill(split: Split, customers: pl.LazyFrame, primary: pl.LazyFrame, k: int = K) -> pl.DataFrame:
    """Top ``k`` per customer from ``primary`` (customer_code, product_key, order: smaller
    first), topped up with popular products the customer has not bought."""
    ranked = popularity(split).sort("pop_rank")
    pop_head = ranked.head(200)  # enough to skip what a big customer already owns
    not_owned = (
        customers.join(pop_head, how="cross")
        .join(split.history, on=["customer_code", "product_key"], how="anti")
        .select(
            "customer_code",
            "product_key",
            prio=pl.lit(1),
            order=pl.col("pop_rank").cast(pl.Float64),
        )
    )
    # last resort, for a customer who owns every candidate: popular products all the same
    any_product = customers.join(ranked.head(k), how="cross").select(
        "customer_code", "product_key", prio=pl.lit(2), order=pl.col("pop_rank").cast(pl.Float64)
    )
    first = primary.join(customers, on="customer_code", how="semi").select(
        "customer_code", "product_key", prio=pl.lit(0), order=pl.col("order").cast(pl.Float64)
    )
    return (
        pl.concat([first, not_owned, any_product])
        .unique(["customer_code", "product_key"], keep="first", maintain_order=True)
        .sort(["customer_code", "prio", "order", "product_key"])
        .group_by("customer_code", maintain_order=True)
        .head(k)
        .with_columns(rank=pl.int_range(1, pl.len() + 1, dtype=pl.Int32).over("customer_code"))
        .select("customer_code", "rank", "product_key")
        .collect()
    )


def pop(split: Split, customers: pl.LazyFrame, k: int = K) -> pl.DataFrame:
    """The same ``k`` most popular recent products for everyone (owned ones included)."""
    top = popularity(split).sort("pop_rank").head(k)
    return (
        customers.join(top, how="cross")
        .select("customer_code", rank=(pl.col("pop_rank") + 1).cast(pl.Int32), product_key="product_key")
        .sort("customer_code", "rank")
        .collect()
    )


def repeat(split: Split, customers: pl.LazyFrame, k: int = K) -> pl.DataFrame:
    """The customer's own products by number of orders, ties by most recent purchase, then
    by POP rank (:func:`popularity`), as ANCHORS.md defines REPEAT."""
    return _fill(split, customers, repeat_order(split.train, popularity(split)), k)


def repeat_order(train: pl.LazyFrame, pop_rank: pl.LazyFrame) -> pl.LazyFrame:
    """Every (customer, owned product) of ``train`` events with its REPEAT position ``order``
    (0 first): number of orders descending, last purchase date descending, then POP rank
    (``pop_rank`` frame: ``product_key, pop_rank``), then product key. Shared with the
    scorer's self-validation, so that both use one definition."""
    return (
        train.group_by("customer_code", "product_key")
        .agg(n_orders=pl.col("order_id").n_unique(), last=pl.col("order_date").max())
        .join(pop_rank, on="product_key", how="left")
        .sort(
            ["customer_code", "n_orders", "last", "pop_rank", "product_key"],
            descending=[False, True, True, False, False],
            nulls_last=True,
        )
        .with_columns(order=pl.int_range(pl.len()).over("customer_code"))
        .select("customer_code", "product_key", "order", "n_orders", "last")
    )


def _index(frame: pl.LazyFrame, column: str) -> pl.DataFrame:
    return frame.select(column).unique().sort(column).with_row_index("idx").collect()


#: Customers scored at a time by :func:`sar`: bounds the memory of the scores' join.
SAR_BATCH = 4096


def sar(
    split: Split,
    customers: pl.LazyFrame,
    k: int = K,
    half_life_days: float = 90.0,
    similarity: str = "jaccard",
) -> pl.DataFrame:
    """SAR: score = time-decayed user affinity × item-item similarity, owned items excluded.

    Co-occurrence counts customers who bought both items (before the cutoff); Jaccard
    ``c_ij / (c_ii + c_jj - c_ij)`` (``lift`` = ``c_ij / (c_ii c_jj)`` is kept for
    comparison: the anchors show it fails). Affinity sums ``2^(-age/half_life)`` over the
    customer's events. Sparse, with Polars joins: only the pairs of products bought by one
    customer exist (the co-occurrences grow with the customers' baskets, not with the square
    of the catalogue), and the scores of ``SAR_BATCH`` customers at a time. A score is summed
    in float64 and compared at 10 significant digits (so that equal sums are tied whatever
    the order of their terms), and ties go by product key.
    """
    if similarity not in ("jaccard", "lift"):
        raise ValueError(f"unknown similarity {similarity!r}: expected jaccard or lift")
    targets = customers.collect().select("customer_code").unique().sort("customer_code").with_row_index("row")
    pairs = (
        split.train.group_by("customer_code", "product_key")
        .agg(
            weight=pl.lit(2.0)
            .pow(-(pl.lit(split.cutoff) - pl.col("order_date")).dt.total_days() / half_life_days)
            .sum()
        )
        .join(split.catalogue, on="product_key", how="semi")
        .collect()
    )
    sim = sar_similarity(pairs.select("customer_code", "product_key"), similarity).lazy()
    affinity = pairs.join(targets, on="customer_code")  # row, product_key, weight
    ranked = []
    for start in range(0, targets.height, SAR_BATCH):
        batch = affinity.lazy().filter(pl.col("row").is_between(start, start + SAR_BATCH - 1))
        ranked.append(
            batch.select("row", "product_key", "weight")
            .join(sim, on="product_key")
            .group_by("row", "other")
            .agg(score=(pl.col("weight") * pl.col("sim").cast(pl.Float64)).sum().round_sig_figs(10))
            .join(batch, left_on=["row", "other"], right_on=["row", "product_key"], how="anti")
            .filter(pl.col("score") > 0)  # no co-occurrence at all: left to the fallback
            .sort(["row", "score", "other"], descending=[False, True, False])
            .group_by("row", maintain_order=True)
            .head(k)
            .collect()
        )
    top = (
        pl.concat(ranked)
        if ranked
        else pl.DataFrame(schema={"row": pl.UInt32, "other": pl.String, "score": pl.Float64})
    )
    primary = top.join(targets, on="row").select("customer_code", product_key="other", order=-pl.col("score"))
    return _fill(split, customers, primary.lazy(), k)


def sar_similarity(bought: pl.DataFrame, similarity: str = "jaccard") -> pl.DataFrame:
    """``product_key, other, sim`` (float32) for every pair of distinct products that one
    customer bought both of (``bought``: distinct customer_code, product_key): Jaccard
    ``c_ij / (c_ii + c_jj - c_ij)`` or lift ``c_ij / (c_ii c_jj)`` of the buyer counts."""
    buyers = bought.group_by("product_key").agg(c_i=pl.len().cast(pl.Float32))
    cooc = (
        bought.join(bought.rename({"product_key": "other"}), on="customer_code")
        .filter(pl.col("product_key") != pl.col("other"))
        .group_by("product_key", "other")
        .agg(c_ij=pl.len().cast(pl.Float32))
        .join(buyers, on="product_key")
        .join(buyers.rename({"product_key": "other", "c_i": "c_j"}), on="other")
    )
    c_ij, c_i, c_j = pl.col("c_ij"), pl.col("c_i"), pl.col("c_j")
    sim = c_ij / (c_i + c_j - c_ij) if similarity == "jaccard" else c_ij / (c_i * c_j)
    return cooc.select("product_key", "other", sim=sim.cast(pl.Float32))


def random_floor(split: Split, customers: pl.LazyFrame, k: int = K, seed: int = 0) -> pl.DataFrame:
    """``k`` distinct catalogue products per customer, uniformly at random (seeded)."""
    items = _index(split.catalogue, "product_key")
    targets = customers.collect().select("customer_code").unique().sort("customer_code")
    n, m = targets.height, items.height
    k = min(k, m)
    rng = np.random.default_rng(seed)
    # k distinct indices per row without a row loop: rank random keys, keep the k smallest
    keys = rng.random((n, m), dtype=np.float32)
    picks = np.argpartition(keys, k - 1, axis=1)[:, :k] if m > k else np.tile(np.arange(m), (n, 1))
    return (
        pl.DataFrame(
            {
                "row": np.repeat(np.arange(n), k),
                "rank": np.tile(np.arange(1, k + 1, dtype=np.int32), n),
                "idx": picks.ravel().astype(np.uint32),
            }
        )
        .join(targets.with_row_index("row"), on="row")
        .join(items, on="idx")
        .select("customer_code", "rank", "product_key")
        .sort("customer_code", "rank")
    )


BASELINES = {"POP": pop, "REPEAT": repeat, "SAR": sar, "RANDOM": random_floor}


def all_baselines(split: Split, customers: pl.LazyFrame, k: int = K) -> pl.DataFrame:
    """Every baseline, stacked: ``method, customer_code, rank, product_key``."""
    return pl.concat(
        [
            fn(split, customers, k).select(pl.lit(name).alias("method"), pl.all())
            for name, fn in BASELINES.items()
        ]
    )
