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
- :func:`tifu_knn`: TIFU-KNN (:mod:`reco.backtest.tifuknn`), its hyper-parameters chosen on
  the validation split one horizon before the cutoff.
- :func:`random_floor`: ``k`` products drawn uniformly from the catalogue.
"""

from __future__ import annotations

import numpy as np
import polars as pl
from scipy import sparse

from reco.backtest import tifuknn
from reco.backtest.protocol import Split, blocks, index

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


def _top_per_row(rows: np.ndarray, cols: np.ndarray, vals: np.ndarray, n: int):
    """Of cells ``rows, cols, vals``, the ``n`` largest positive ones of each row (ties:
    smaller column), as ``rows, cols, vals``."""
    keep = vals > 0
    rows, cols, vals = rows[keep], cols[keep], vals[keep]
    order = np.lexsort((cols, -vals, rows))
    rows, cols, vals = rows[order], cols[order], vals[order]
    first = np.arange(rows.size) - np.searchsorted(rows, rows, side="left") < n
    return rows[first], cols[first], vals[first]


def _candidates(scores: np.ndarray, n: int) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """The positive cells of a dense block at least as large as their row's ``n``-th largest
    (ties kept, so that :func:`_top_per_row` breaks them by column): ``rows, cols, vals``."""
    if scores.shape[1] > n:
        part = np.argpartition(-scores, n - 1, axis=1)[:, :n]
        floor = np.take_along_axis(scores, part, axis=1).min(axis=1)
    else:
        floor = scores.min(axis=1)
    rows, cols = np.nonzero((scores >= floor[:, None]) & (scores > 0))
    return rows, cols, scores[rows, cols]


def _sar_top(
    bought: sparse.csr_matrix, affinity: sparse.csr_matrix, similarity: str, k: int
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """SAR's ``k`` best products per row of ``affinity`` (targets × items), owned ones out:
    ``rows, items, scores``. The similarity of ``bought`` (customers × items, 0/1) is built
    by blocks of items and used at once, so neither it nor the scores are ever held whole:
    memory follows the purchases and the block, not items × items or targets × items."""
    n_items = bought.shape[1]
    by_item = bought.T.tocsr()
    counts = np.asarray(bought.sum(axis=0), dtype=np.float64).ravel()
    owned = affinity.tocsc()
    rows, cols, vals = [np.empty(0, np.int64)], [np.empty(0, np.int64)], [np.empty(0)]
    for lo, hi in blocks(n_items, n_items + affinity.shape[0]):
        # similarity of items lo..hi to every item; symmetric, so it is also columns lo..hi
        cooc = (by_item[lo:hi] @ bought).tocoo()
        i, j, c = cooc.row + lo, cooc.col, cooc.data
        if similarity == "jaccard":
            sim = c / (counts[i] + counts[j] - c)
        elif similarity == "lift":
            sim = c / (counts[i] * counts[j])
        else:
            raise ValueError(f"unknown similarity {similarity!r}: expected jaccard or lift")
        block = sparse.csr_matrix((sim, (j, i - lo)), shape=(n_items, hi - lo))
        scores = (affinity @ block).toarray()
        # already bought: out; no co-occurrence at all (0): the slot goes to the fallback
        own = owned[:, lo:hi].tocoo()
        scores[own.row, own.col] = 0.0
        r, c_, v = _candidates(scores, k)
        rows.append(r), cols.append(c_ + lo), vals.append(v)
    return _top_per_row(np.concatenate(rows), np.concatenate(cols), np.concatenate(vals), k)


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
    customer's events. The matrices are SciPy sparse and the similarity is built and used by
    blocks of items (:func:`_sar_top`), so no items × items or customers × items matrix is
    ever held: the scores are exact, every co-occurrence counts.
    """
    items = index(split.catalogue, "product_key")
    users = index(split.train, "customer_code")
    targets = customers.collect().select("customer_code").unique().sort("customer_code")
    n_items = items.height

    pairs = (
        split.train.join(items.lazy(), on="product_key")
        .join(users.lazy(), on="customer_code", suffix="_user")
        .with_columns(
            weight=pl.lit(2.0).pow(
                -(pl.lit(split.cutoff) - pl.col("order_date")).dt.total_days() / half_life_days
            )
        )
        .group_by("idx_user", "idx")
        .agg(pl.col("weight").sum(), pl.col("customer_code").first())
        .collect()
    )
    bought = sparse.csr_matrix(
        (np.ones(pairs.height, dtype=np.float64), (pairs["idx_user"].to_numpy(), pairs["idx"].to_numpy())),
        shape=(users.height, n_items),
    )
    target_pairs = pairs.join(targets.with_row_index("row"), on="customer_code")
    affinity = sparse.csr_matrix(
        (
            target_pairs["weight"].to_numpy(),
            (target_pairs["row"].to_numpy(), target_pairs["idx"].to_numpy()),
        ),
        shape=(targets.height, n_items),
    )
    rows, cols, scores = _sar_top(bought, affinity, similarity, k)
    ranked = (
        pl.DataFrame({"row": rows.astype(np.uint32), "idx": cols.astype(np.uint32), "score": scores})
        .join(targets.with_row_index("row"), on="row")
        .join(items, on="idx")
        .select("customer_code", "product_key", order=-pl.col("score"))
    )
    return _fill(split, customers, ranked.lazy(), k)


def tifu_knn(split: Split, customers: pl.LazyFrame, k: int = K, notes: dict | None = None) -> pl.DataFrame:
    """TIFU-KNN with the setting :func:`reco.backtest.tifuknn.tune` picks on the validation
    split (training data only). ``notes``, when given, gets the tuning under ``"TIFU-KNN"``
    (:class:`reco.backtest.tifuknn.Tuned`): the setting and what it was chosen on."""
    tuned = tifuknn.tune(split)
    if notes is not None:
        notes["TIFU-KNN"] = tuned
    return _fill(split, customers, tifuknn.recommend(split, customers, tuned.params), k)


def random_floor(split: Split, customers: pl.LazyFrame, k: int = K, seed: int = 0) -> pl.DataFrame:
    """``k`` distinct catalogue products per customer, uniformly at random (seeded)."""
    items = index(split.catalogue, "product_key")
    targets = customers.collect().select("customer_code").unique().sort("customer_code")
    n, m = targets.height, items.height
    k = min(k, m)
    rng = np.random.default_rng(seed)
    # k distinct indices per row without a row loop: rank random keys, keep the k smallest;
    # by blocks of rows (the generator's stream is the same as one n × m draw)
    picks = np.empty((n, k), dtype=np.int64)
    for lo, hi in blocks(n, m):
        keys = rng.random((hi - lo, m), dtype=np.float32)
        picks[lo:hi] = (
            np.argpartition(keys, k - 1, axis=1)[:, :k] if m > k else np.tile(np.arange(m), (hi - lo, 1))
        )
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


BASELINES = {"POP": pop, "REPEAT": repeat, "TIFU-KNN": tifu_knn, "SAR": sar, "RANDOM": random_floor}


def all_baselines(
    split: Split, customers: pl.LazyFrame, k: int = K, notes: dict | None = None
) -> pl.DataFrame:
    """Every baseline, stacked: ``method, customer_code, rank, product_key``. ``notes``, when
    given, gets what a baseline chose (TIFU-KNN's tuning, :func:`tifu_knn`)."""
    return pl.concat(
        [
            (tifu_knn(split, customers, k, notes) if fn is tifu_knn else fn(split, customers, k)).select(
                pl.lit(name).alias("method"), pl.all()
            )
            for name, fn in BASELINES.items()
        ]
    )
