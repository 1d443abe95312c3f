"""TIFU-KNN (Hu, He, Gao and Zhang, SIGIR 2020), a baseline of the state of the art of repeat
purchase (``ANCHORS.md``), on the backtest's purchase events.

A customer's *PIF vector* (personalised item frequency) is built from their baskets (orders)
in time order, as the authors' reference code does:

- basket ``i`` of ``n`` puts ``within_decay ** (n - i - 1)`` on each of its products;
- the baskets are cut into ``n_groups`` consecutive groups of near-equal size (the later
  groups one basket larger when ``n`` does not divide); each group is the mean of its
  baskets' vectors, weighted by ``group_decay ** (n_groups - g - 1)``; a customer with fewer
  baskets than groups has one group per basket, weighted from the same exponents;
- the PIF vector is the sum of the weighted groups divided by the number of groups.

A customer's scores are ``alpha * own + (1 - alpha) * mean(neighbours)``, where the
neighbours are the ``neighbours`` nearest PIF vectors of the training customers by Euclidean
distance (the customer's own vector among them, as in the reference code). The 3 best-scored
products are the list; a customer with fewer than 3 scored products is topped up with POP, as
every baseline is.

The hyper-parameters are chosen on a validation split built from training data only: the same
protocol shifted back by one horizon (:func:`tune`), over :data:`GRID`; too few validation
customers (:data:`MIN_VALIDATION`) keep the published Ta Feng setting (:data:`PUBLISHED`).
Vectors are SciPy sparse matrices and the neighbour search runs by blocks of customers, so
memory follows the number of purchases, not customers × products.

Bounded at scale. The neighbour search costs (customers searched for) × (customers searched
among) per setting, quadratic in customers: at 1 M sales lines and 100,000 customers the
tuning alone took most of an 18-minute backtest. Two caps, which never trigger on Online
Retail II (about 5,900 customers), the demo (5,000) or the grocery generator's default (3,000
households), so the figures of docs/evaluation.md are unchanged:

- more than :data:`TUNE_CUSTOMERS` validation customers: the setting is chosen on a seeded
  sample of that many (:func:`sample`, seed :data:`SEED`), and :class:`Tuned` says so;
- more than :data:`NEIGHBOUR_POOL` training customers: in the tuning, the neighbours are
  searched among a seeded sample of that many training customers (plus the customer's own
  vector, as in the reference code);
- more than :data:`LIST_NEIGHBOUR_POOL` training customers: the same in the lists evaluated
  (one search with the chosen setting instead of twelve, so a larger pool: the baseline stays
  the published method, exact, up to that many customers).

The cost of a backtest's TIFU-KNN is then bounded by the caps in the tuning and linear in the
customers evaluated in the final lists.
"""

from __future__ import annotations

import itertools
from dataclasses import dataclass
from datetime import timedelta

import numpy as np
import polars as pl
from scipy import sparse

from reco.backtest.protocol import Split, blocks, index, split

K = 3


@dataclass(frozen=True)
class Params:
    n_groups: int = 7
    within_decay: float = 0.9
    group_decay: float = 0.7
    neighbours: int = 300
    alpha: float = 0.7


#: The paper's setting for Ta Feng (its Table 3), used when validation cannot choose.
PUBLISHED = Params()

#: The search space: the settings the paper reports for its four data sets lie in it.
GRID = {
    "n_groups": (3, 7),
    "within_decay": (0.9, 1.0),
    "group_decay": (0.6, 0.8, 1.0),
    "neighbours": (100, 300, 900),
    "alpha": (0.5, 0.7, 0.9),
}

#: Fewer validation customers than this and the published setting is kept.
MIN_VALIDATION = 100

#: More validation customers than this and the setting is chosen on a seeded sample of them.
TUNE_CUSTOMERS = 20_000
#: More training customers than this and neighbours are searched among a seeded sample of them.
NEIGHBOUR_POOL = 20_000
#: More training customers than this and the evaluated lists' neighbours come from a seeded sample.
LIST_NEIGHBOUR_POOL = 100_000
#: The seed of both samples (NumPy's default generator).
SEED = 0


def sample(n: int, cap: int, seed: int = SEED) -> np.ndarray | None:
    """``cap`` of the positions ``0 .. n-1`` drawn without replacement by NumPy's default
    generator seeded with ``seed``, sorted; ``None`` when ``n <= cap`` (everyone, no sample).
    The positions are those of a list sorted by customer code, so the sample depends only on
    the customers, the cap and the seed."""
    if n <= cap:
        return None
    return np.sort(np.random.default_rng(seed).choice(n, size=cap, replace=False))


@dataclass(frozen=True)
class Tuned:
    params: Params
    #: validation hit@3 of the chosen setting (None when the published one was kept)
    validation_hit: float | None
    validation_customers: int
    #: the validation customers the setting was chosen on: all of them, or a sample
    #: (:data:`TUNE_CUSTOMERS`)
    tuned_on: int | None = None
    #: training customers the neighbours were searched among in the tuning (None: all)
    neighbour_pool: int | None = None

    def as_dict(self) -> dict:
        return {
            "params": {
                "n_groups": self.params.n_groups,
                "within_decay": self.params.within_decay,
                "group_decay": self.params.group_decay,
                "neighbours": self.params.neighbours,
                "alpha": self.params.alpha,
            },
            "validation_hit": self.validation_hit,
            "validation_customers": self.validation_customers,
            "tuned_on": self.tuned_on if self.tuned_on is not None else self.validation_customers,
            "sampled": self.tuned_on is not None and self.tuned_on < self.validation_customers,
            "neighbour_pool": self.neighbour_pool,
        }

    def describe(self) -> str:
        """One line for the backtest's output: the setting and what it was chosen on."""
        p = self.params
        setting = (
            f"n_groups={p.n_groups} within_decay={p.within_decay} group_decay={p.group_decay} "
            f"neighbours={p.neighbours} alpha={p.alpha}"
        )
        if self.validation_hit is None:
            return (
                f"TIFU-KNN: the published setting ({setting}): {self.validation_customers:,} "
                f"validation customers, fewer than {MIN_VALIDATION}"
            )
        on = self.tuned_on if self.tuned_on is not None else self.validation_customers
        chosen = (
            f"a seeded sample of {on:,} of the {self.validation_customers:,} validation customers"
            if on < self.validation_customers
            else f"all {on:,} validation customers"
        )
        pool = (
            f"; neighbours searched among a seeded sample of {self.neighbour_pool:,} customers"
            if self.neighbour_pool is not None
            else ""
        )
        return f"TIFU-KNN: {setting}, tuned on {chosen} (validation hit@3 {self.validation_hit:.3f}){pool}"


def pif_vectors(
    train: pl.LazyFrame, users: pl.DataFrame, items: pl.DataFrame, p: Params
) -> sparse.csr_matrix:
    """PIF vectors of ``users`` (``customer_code, idx``) over ``items`` (``product_key, idx``)
    from the purchase events ``train``: a CSR matrix, one row per user."""
    g = p.n_groups
    baskets = (
        train.group_by("customer_code", "order_id")
        .agg(pl.col("order_date").min())
        .sort("customer_code", "order_date", "order_id")
        .with_columns(
            i=pl.int_range(pl.len()).over("customer_code"),
            n=pl.len().over("customer_code"),
        )
        .with_columns(base=pl.col("n") // g, extra=pl.col("n") % g)
        .with_columns(
            small=pl.col("n") < g,
            # the first (g - extra) groups hold `base` baskets, the last `extra` hold base + 1
            split_at=(pl.lit(g) - pl.col("extra")) * pl.col("base"),
        )
        .with_columns(
            group=pl.when(pl.col("small"))
            .then(pl.col("i"))
            .when(pl.col("i") < pl.col("split_at"))
            .then(pl.col("i") // pl.col("base").clip(lower_bound=1))
            .otherwise(
                pl.lit(g) - pl.col("extra") + (pl.col("i") - pl.col("split_at")) // (pl.col("base") + 1)
            ),
            size=pl.when(pl.col("small"))
            .then(1)
            .when(pl.col("i") < pl.col("split_at"))
            .then(pl.col("base"))
            .otherwise(pl.col("base") + 1),
            groups=pl.when(pl.col("small")).then(pl.col("n")).otherwise(g),
        )
        .select(
            "customer_code",
            "order_id",
            weight=pl.lit(p.within_decay).pow(pl.col("n") - pl.col("i") - 1)
            * pl.lit(p.group_decay).pow(pl.lit(g) - pl.col("group") - 1)
            / pl.col("size")
            / pl.col("groups"),
        )
    )
    cells = (
        train.join(baskets, on=["customer_code", "order_id"])
        .group_by("customer_code", "product_key")
        .agg(pl.col("weight").sum())
        .join(users.lazy(), on="customer_code")
        .join(items.lazy().rename({"idx": "item"}), on="product_key")
        .select("idx", "item", "weight")
        .collect()
    )
    return sparse.csr_matrix(
        (
            cells["weight"].to_numpy().astype(np.float32),
            (cells["idx"].to_numpy(), cells["item"].to_numpy()),
        ),
        shape=(users.height, items.height),
    )


def _k_nearest(dist: np.ndarray, k: int, ids) -> np.ndarray:
    """The ``k`` smallest columns of each row of ``dist`` as row ids (``ids`` maps column
    positions to ids), nearest first, ties by id."""
    part = (
        np.argpartition(dist, k - 1, axis=1)[:, :k]
        if k < dist.shape[1]
        else np.tile(np.arange(dist.shape[1]), (dist.shape[0], 1))
    )
    got = ids(part)
    order = np.lexsort((got, np.take_along_axis(dist, part, axis=1)), axis=1)
    return np.take_along_axis(got, order, axis=1)


def _neighbours(
    vectors: sparse.csr_matrix, rows: np.ndarray, k: int, pool: np.ndarray | None = None
) -> np.ndarray:
    """For each of ``rows``, the ``k`` nearest rows of ``vectors`` by Euclidean distance,
    nearest first (ties by row number): an array ``len(rows) × k``. ``pool`` (sorted row
    numbers): search among those rows and the row itself only (:data:`NEIGHBOUR_POOL`)."""
    if pool is not None:
        return _pool_neighbours(vectors, rows, k, pool)
    k = min(k, vectors.shape[0])
    norms = np.asarray(vectors.multiply(vectors).sum(axis=1)).ravel()
    out = np.empty((len(rows), k), dtype=np.int64)
    for lo, hi in blocks(len(rows), vectors.shape[0]):
        q = vectors[rows[lo:hi]]
        dist = norms[rows[lo:hi], None] + norms[None, :] - 2 * (q @ vectors.T).toarray()
        out[lo:hi] = _k_nearest(dist, k, lambda part: part)
    return out


def _pool_neighbours(vectors: sparse.csr_matrix, rows: np.ndarray, k: int, pool: np.ndarray) -> np.ndarray:
    """:func:`_neighbours` among the rows ``pool`` plus each row itself (its own vector is
    always a candidate, as when everyone is searched)."""
    k = min(k, len(pool) + 1)
    norms = np.asarray(vectors.multiply(vectors).sum(axis=1)).ravel()
    among = vectors[pool]
    among_t = among.T.tocsc()
    out = np.empty((len(rows), k), dtype=np.int64)
    for lo, hi in blocks(len(rows), len(pool) + 1):
        r = rows[lo:hi]
        q = vectors[r]
        dist = np.empty((hi - lo, len(pool) + 1), dtype=norms.dtype)  # as :func:`_neighbours`
        dist[:, :-1] = norms[r, None] + norms[None, pool] - 2 * (q @ among_t).toarray()
        # the row itself, unless it is in the pool already (then it is there once)
        in_pool = np.isin(r, pool, assume_unique=False)
        own = norms[r] + norms[r] - 2 * np.asarray(q.multiply(q).sum(axis=1)).ravel()
        dist[:, -1] = np.where(in_pool, np.inf, own)
        out[lo:hi] = _k_nearest(
            dist,
            k,
            lambda part, r=r: np.where(part == len(pool), r[:, None], pool[np.minimum(part, len(pool) - 1)]),
        )
    return out


def _top(vectors: sparse.csr_matrix, rows: np.ndarray, nbrs: np.ndarray, alpha: float, k: int = K):
    """The ``k`` best-scored item indices per row (``-1`` where fewer items score above 0),
    and their scores."""
    return _tops(vectors, rows, nbrs, (alpha,), k)[alpha]


def _tops(vectors: sparse.csr_matrix, rows: np.ndarray, nbrs: np.ndarray, alphas, k: int = K) -> dict:
    """:func:`_top` for each of ``alphas`` (alpha -> top, scores): the customers' own vectors
    and their neighbours' mean are computed once per block of customers for all of them."""
    n_items = vectors.shape[1]
    out = {
        a: (np.full((len(rows), k), -1, dtype=np.int64), np.zeros((len(rows), k), dtype=np.float32))
        for a in alphas
    }
    kk = min(k, n_items)
    for lo, hi in blocks(len(rows), n_items):
        m = hi - lo
        kn = nbrs.shape[1]
        mean = sparse.csr_matrix(
            (np.full(m * kn, 1.0 / kn, dtype=np.float32), nbrs[lo:hi].ravel(), np.arange(0, m * kn + 1, kn)),
            shape=(m, vectors.shape[0]),
        )
        own, near = vectors[rows[lo:hi]].toarray(), (mean @ vectors).toarray()
        for alpha, (top, scores) in out.items():
            s = alpha * own + (1 - alpha) * near
            part = (
                np.argpartition(-s, kk - 1, axis=1)[:, :kk]
                if kk < n_items
                else np.tile(np.arange(n_items), (m, 1))
            )
            vals = np.take_along_axis(s, part, axis=1)
            order = np.lexsort((part, -vals), axis=1)
            part, vals = np.take_along_axis(part, order, axis=1), np.take_along_axis(vals, order, axis=1)
            top[lo:hi, :kk] = np.where(vals > 0, part, -1)
            scores[lo:hi, :kk] = vals
    return out


def _hit_rate(top: np.ndarray, rows: np.ndarray, truth: sparse.csr_matrix) -> float:
    """Share of ``rows`` with at least one of their ``top`` items in ``truth`` (a 0/1 matrix)."""
    valid = top >= 0
    hits = np.zeros(top.shape, dtype=bool)
    hits[valid] = np.asarray(truth[np.repeat(rows, top.shape[1])[valid.ravel()], top[valid]]).ravel() > 0
    return float(hits.any(axis=1).mean()) if len(rows) else 0.0


def tune(s: Split, grid: dict = GRID) -> Tuned:
    """The setting of :data:`GRID` with the best hit@3 on the validation split: the protocol
    shifted back by one horizon (training before ``cutoff - horizon``, truth in the horizon
    before the cutoff), ties to the earlier setting of the grid."""
    start = s.cutoff - timedelta(days=s.horizon_days)
    v = split(s.train, start, s.horizon_days)
    users = index(v.train, "customer_code")
    items = index(v.catalogue, "product_key")
    eligible = v.eligible.collect().join(users, on="customer_code").sort("customer_code")
    if eligible.height < MIN_VALIDATION:
        return Tuned(PUBLISHED, None, eligible.height)
    rows = eligible["idx"].to_numpy()
    picked = sample(len(rows), TUNE_CUSTOMERS)
    if picked is not None:
        rows = rows[picked]
    pool = sample(users.height, NEIGHBOUR_POOL)
    truth_cells = (
        v.test.collect().join(users, on="customer_code").join(items.rename({"idx": "item"}), on="product_key")
    )
    truth = sparse.csr_matrix(
        (
            np.ones(truth_cells.height, dtype=np.int8),
            (truth_cells["idx"].to_numpy(), truth_cells["item"].to_numpy()),
        ),
        shape=(users.height, items.height),
    )
    best: tuple[float, Params] | None = None
    for n_groups, within, group in itertools.product(
        grid["n_groups"], grid["within_decay"], grid["group_decay"]
    ):
        vectors = pif_vectors(v.train, users, items, Params(n_groups, within, group))
        nbrs = _neighbours(vectors, rows, max(grid["neighbours"]), pool)
        for n_nbrs in grid["neighbours"]:
            tops = _tops(vectors, rows, nbrs[:, :n_nbrs], grid["alpha"])
            for alpha in grid["alpha"]:
                hit = _hit_rate(tops[alpha][0], rows, truth)
                if best is None or hit > best[0]:
                    best = (hit, Params(n_groups, within, group, n_nbrs, alpha))
    assert best is not None
    return Tuned(best[1], best[0], eligible.height, len(rows), None if pool is None else len(pool))


def recommend(s: Split, customers: pl.LazyFrame, params: Params) -> pl.LazyFrame:
    """TIFU-KNN's ranked products for ``customers`` who have a training history:
    ``customer_code, product_key, order`` (smaller first)."""
    users = index(s.train, "customer_code")
    items = index(s.catalogue, "product_key")
    targets = customers.collect().select("customer_code").unique().join(users, on="customer_code").sort("idx")
    if targets.is_empty():
        return pl.LazyFrame(
            schema={"customer_code": pl.String, "product_key": pl.String, "order": pl.Float64}
        )
    rows = targets["idx"].to_numpy()
    vectors = pif_vectors(s.train, users, items, params)
    pool = sample(users.height, LIST_NEIGHBOUR_POOL)
    top, scores = _top(vectors, rows, _neighbours(vectors, rows, params.neighbours, pool), params.alpha)
    return (
        pl.DataFrame(
            {
                "idx": np.repeat(rows, K).astype(np.uint32),
                "item": top.ravel(),
                "order": -scores.ravel().astype(np.float64),
            }
        )
        .filter(pl.col("item") >= 0)
        .join(users, on="idx")
        .join(items.rename({"idx": "item"}).with_columns(pl.col("item").cast(pl.Int64)), on="item")
        .select("customer_code", "product_key", "order")
        .lazy()
    )
