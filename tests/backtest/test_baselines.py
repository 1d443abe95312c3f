import tracemalloc
from datetime import date

import numpy as np
import polars as pl
from hypothesis import example, given, settings
from hypothesis import strategies as st
from scipy import sparse

from reco.backtest import baselines, protocol
from reco.backtest.protocol import split
from tests.backtest.conftest import CUTOFF, events


def _lists(recs: pl.DataFrame) -> dict[str, list[str]]:
    return {c: g.sort("rank")["product_key"].to_list() for (c,), g in recs.group_by("customer_code")}


def test_repeat_ranks_own_products_by_orders_then_most_recent(small_events):
    s = split(small_events, CUTOFF, 90)
    recs = _lists(baselines.repeat(s, s.eligible))
    # alice: A (2 orders), then B (most recent single order), then C
    assert recs["alice"] == ["A", "B", "C"]
    # bob owns only A and D (same order, tie by key); the third slot is the most popular
    # product bob has not bought
    assert recs["bob"][:2] == ["A", "D"]
    assert recs["bob"][2] not in {"A", "D"}


def test_repeat_breaks_ties_on_orders_and_recency_by_popularity():
    # x bought K and Z in one order (a tie on orders and on recency); Z has more buyers, so
    # it comes first although K sorts first by code (ANCHORS.md: "then by POP rank")
    s = split(
        events(
            [
                ("x", "o1", "K", "2021-05-01"),
                ("x", "o1", "Z", "2021-05-01"),
                ("x", "o9", "K", "2021-06-02"),
                ("y", "o2", "Z", "2021-05-02"),
                ("w", "o3", "Z", "2021-05-03"),
            ]
        ),
        CUTOFF,
        90,
    )
    assert _lists(baselines.repeat(s, s.eligible))["x"][:2] == ["Z", "K"]


def test_pop_gives_everyone_the_most_recent_buyers_products(small_events):
    s = split(small_events, CUTOFF, 90)
    recs = _lists(baselines.pop(s, s.eligible))
    # since 2021-03-03: B has 2 buyers (alice, carol); A, D, E one each, A first by
    # buyers over all training (alice and bob)
    assert recs["alice"] == recs["bob"]
    assert recs["alice"][:2] == ["B", "A"]


def test_sar_recommends_co_bought_products_not_owned(small_events):
    s = split(small_events, CUTOFF, 90)
    recs = _lists(baselines.sar(s, s.eligible))
    # bob owns A and D: A co-occurs with B and C (alice), so SAR proposes them
    assert set(recs["bob"]) & {"A", "D"} == set()
    assert set(recs["bob"][:2]) == {"B", "C"}
    # alice owns A, B, C: only D and E are new to her; the last slot falls back to the
    # most popular product, owned or not
    assert set(recs["alice"][:2]) == {"D", "E"}


def test_random_floor_is_reproducible_with_a_seed(small_events):
    s = split(small_events, CUTOFF, 90)
    a = baselines.random_floor(s, s.eligible, seed=7)
    b = baselines.random_floor(s, s.eligible, seed=7)
    assert a.equals(b)


_event = st.tuples(
    st.sampled_from(["c1", "c2", "c3", "c4"]),
    st.sampled_from(["o1", "o2", "o3", "o4", "o5", "o6"]),
    st.sampled_from(["P1", "P2", "P3", "P4", "P5", "P6", "P7"]),
    st.sampled_from(["2021-03-01", "2021-05-15", "2021-05-31", "2021-06-01", "2021-07-01"]),
)


@settings(max_examples=25, deadline=None)
@given(st.lists(_event, min_size=1, max_size=40))
def test_every_baseline_returns_k_distinct_catalogue_products_per_customer(rows):
    s = split(events(rows), CUTOFF, 90)
    catalogue = set(s.catalogue.collect()["product_key"])
    customers = s.train.select("customer_code").unique()
    n_customers = customers.collect().height
    k = min(3, len(catalogue))
    for name, fn in baselines.BASELINES.items():
        recs = fn(s, customers)
        assert recs.height == n_customers * k, name
        per = recs.group_by("customer_code").agg(
            n=pl.col("product_key").n_unique(), ranks=pl.col("rank").sort()
        )
        assert per["n"].to_list() == [k] * n_customers, name
        assert all(r == list(range(1, k + 1)) for r in per["ranks"].to_list()), name
        assert set(recs["product_key"]) <= catalogue, name


def _dense_sar_scores(bought: np.ndarray, affinity: np.ndarray) -> np.ndarray:
    """SAR's definition on dense matrices: Jaccard of co-buyers, scores = affinity @ sim,
    owned cells out."""
    cooc = bought.T @ bought
    diag = np.diag(cooc)
    with np.errstate(divide="ignore", invalid="ignore"):
        sim = np.nan_to_num(cooc / (diag[:, None] + diag[None, :] - cooc))
    scores = affinity @ sim
    scores[affinity != 0] = 0
    return scores


def _dense_sar_top(bought: np.ndarray, affinity: np.ndarray, k: int):
    """The k best positive cells per row of :func:`_dense_sar_scores` (ties: smaller column)."""
    scores = _dense_sar_scores(bought, affinity)
    out = set()
    for r in range(scores.shape[0]):
        ranked = sorted((-v, c) for c, v in enumerate(scores[r]) if v > 0)[:k]
        out |= {(r, c, round(-v, 9)) for v, c in ranked}
    return out


def _assert_a_dense_top(got: set, bought: np.ndarray, affinity: np.ndarray, k: int) -> None:
    """``got`` is a top-k of the dense definition: per row the same k best values, and each
    cell's value its dense score. Two cells whose sums differ only in the last bits (summed in
    another order by blocks) may swap at the k-th place, so a tie is not pinned to a column."""
    scores = _dense_sar_scores(bought, affinity)
    want = _dense_sar_top(bought, affinity, k)
    for r in range(scores.shape[0]):
        assert sorted(v for rr, _, v in got if rr == r) == sorted(v for rr, _, v in want if rr == r), r
    for r, c, v in got:
        assert affinity[r, c] == 0 and abs(scores[r, c] - v) < 1e-9, (r, c, v)
    assert len({(r, c) for r, c, _ in got}) == len(got)


@settings(max_examples=30, deadline=None)
@given(st.integers(0, 2**32 - 1), st.integers(1, 5_000))
@example(26871620, 1)  # two cells equal but for the last bits, at the third place of a row
def test_sar_blocks_give_the_dense_definition(seed, block_cells):
    # the similarity is built and used by blocks of items; whatever the block size, the
    # result is the dense matrices' one, cell for cell
    rng = np.random.default_rng(seed)
    n_users, n_items = rng.integers(1, 30), rng.integers(1, 40)
    bought = (rng.random((n_users, n_items)) < 0.2).astype(np.float64)
    affinity = bought * rng.random(bought.shape)
    old, protocol.BLOCK_CELLS = protocol.BLOCK_CELLS, block_cells
    try:
        rows, cols, vals = baselines._sar_top(
            sparse.csr_matrix(bought), sparse.csr_matrix(affinity), "jaccard", 3
        )
    finally:
        protocol.BLOCK_CELLS = old
    got = {(int(r), int(c), round(float(v), 9)) for r, c, v in zip(rows, cols, vals, strict=True)}
    _assert_a_dense_top(got, bought, affinity, 3)


def test_sar_never_holds_a_products_squared_matrix():
    # over 30,000 products: one dense products × products float32 matrix would take 3.6 GB; SAR
    # must answer within a budget that only its sparse, blocked structures fit
    rng = np.random.default_rng(1)
    n_products, n_lines = 60_000, 80_000
    lines = pl.DataFrame(
        {
            "customer_code": [f"c{i}" for i in rng.integers(0, 500, n_lines)],
            "order_id": [f"o{i}" for i in rng.integers(0, 4_000, n_lines)],
            "product_key": [f"p{i:05d}" for i in rng.integers(0, n_products, n_lines)],
            "order_date": rng.choice(pl.date_range(date(2021, 1, 1), date(2021, 8, 31), eager=True), n_lines),
        }
    )
    s = split(lines.lazy(), CUTOFF, 90)
    assert s.catalogue.collect().height > 30_000
    tracemalloc.start()
    try:
        recs = baselines.sar(s, s.eligible)
        _, peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
    assert recs.height == 3 * s.eligible.collect().height > 0
    assert peak < 400 * 2**20, f"SAR peaked at {peak / 2**20:.0f} MiB of NumPy/SciPy memory"
