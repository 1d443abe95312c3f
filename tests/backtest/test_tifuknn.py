"""TIFU-KNN against a line-by-line transcription of the authors' reference code, and its
choice of setting on the validation split."""

from datetime import date, timedelta

import numpy as np
import polars as pl
import pytest

from reco.backtest import tifuknn
from reco.backtest.protocol import index, split


def _reference_vector(baskets: list[list[int]], n_items: int, p: tifuknn.Params) -> np.ndarray:
    """The reference code's PIF vector (``temporal_decay_sum_history`` and
    ``group_history_list``), kept in its loop form as the oracle."""
    his_list = []
    n = len(baskets)
    for idx, items in enumerate(baskets):
        vec = np.zeros(n_items)
        vec[items] = p.within_decay ** (n - idx - 1)
        his_list.append(vec)
    g = p.n_groups
    if n < g:
        grouped, real = his_list, n
    else:
        est = n / g
        base = int(np.floor(est))
        extra = int(np.round((est - base) * g))
        grouped, pos = [], 0
        for gi in range(g):
            size = base if gi < g - extra else int(np.ceil(est))
            grouped.append(sum(his_list[pos : pos + size]) / size)
            pos += size
        real = g
    out = np.zeros(n_items)
    for idx in range(real):
        out += grouped[idx] * p.group_decay ** (g - idx - 1)
    return out / real


def _history(seed: int, customers: int, items: int) -> tuple[pl.DataFrame, dict]:
    rng = np.random.default_rng(seed)
    rows, baskets = [], {}
    for c in range(customers):
        n = int(rng.integers(1, 20))
        code = f"C{c:03d}"
        baskets[code] = []
        for b in range(n):
            picks = sorted(set(rng.integers(0, items, size=int(rng.integers(1, 5))).tolist()))
            baskets[code].append(picks)
            day = date(2024, 1, 1) + timedelta(days=3 * b)
            rows += [(code, f"{code}-{b:02d}", f"P{i:02d}", day) for i in picks]
    events = pl.DataFrame(
        rows, schema=["customer_code", "order_id", "product_key", "order_date"], orient="row"
    )
    return events, baskets


@pytest.mark.parametrize(
    "params", [tifuknn.PUBLISHED, tifuknn.Params(3, 1.0, 0.6), tifuknn.Params(5, 0.8, 0.9)]
)
def test_pif_vectors_equal_the_reference_code(params):
    events, baskets = _history(seed=params.n_groups, customers=40, items=12)
    users = index(events.lazy(), "customer_code")
    items = pl.DataFrame({"product_key": [f"P{i:02d}" for i in range(12)]}).with_row_index("idx")
    got = tifuknn.pif_vectors(events.lazy(), users, items, params).toarray()
    for idx, code in users.iter_rows():
        np.testing.assert_allclose(
            got[idx], _reference_vector(baskets[code], 12, params), rtol=1e-5, atol=1e-7
        )


def test_neighbours_are_the_nearest_vectors_with_the_customer_first():
    events, _ = _history(seed=1, customers=30, items=10)
    users = index(events.lazy(), "customer_code")
    items = index(events.lazy(), "product_key")
    vectors = tifuknn.pif_vectors(events.lazy(), users, items, tifuknn.PUBLISHED)
    dense = vectors.toarray()
    rows = np.arange(users.height)
    nbrs = tifuknn._neighbours(vectors, rows, 5)
    for r in rows:
        dist = ((dense - dense[r]) ** 2).sum(axis=1)
        assert nbrs[r, 0] == r
        np.testing.assert_allclose(np.sort(dist)[:5], dist[nbrs[r]], atol=1e-6)


def test_alpha_one_is_the_customers_own_decayed_frequency():
    # a customer who bought A in every basket and B once, long ago: A first, B second, and
    # nothing the customer never bought (alpha = 1 leaves the neighbours out)
    rows = [("C1", f"o{i}", "A", date(2024, 1, 1) + timedelta(days=7 * i)) for i in range(6)]
    rows += [("C1", "o0", "B", date(2024, 1, 1)), ("C2", "x", "Z", date(2024, 1, 2))]
    events = pl.DataFrame(
        rows, schema=["customer_code", "order_id", "product_key", "order_date"], orient="row"
    )
    s = split(events.lazy(), date(2024, 6, 1), 30)
    got = tifuknn.recommend(s, pl.LazyFrame({"customer_code": ["C1"]}), tifuknn.Params(alpha=1.0)).collect()
    assert got.sort("order")["product_key"].to_list() == ["A", "B"]


def test_too_few_validation_customers_keep_the_published_setting():
    events, _ = _history(seed=2, customers=30, items=10)
    s = split(events.lazy(), date(2024, 2, 15), 14)
    tuned = tifuknn.tune(s)
    assert tuned.params == tifuknn.PUBLISHED and tuned.validation_hit is None
    assert tuned.validation_customers < tifuknn.MIN_VALIDATION


def test_tuning_picks_the_setting_that_wins_on_the_validation_window():
    # 300 customers who re-buy their own first product every week: the customer's own vector
    # predicts the window, so tuning keeps more of it (alpha 0.9) than the grid's smallest
    rng = np.random.default_rng(3)
    rows = []
    for c in range(300):
        own = f"P{rng.integers(0, 40):02d}"
        for w in range(20):
            day = date(2024, 1, 1) + timedelta(days=7 * w)
            rows.append((f"C{c}", f"C{c}-{w}", own, day))
            rows.append((f"C{c}", f"C{c}-{w}", f"P{rng.integers(0, 40):02d}", day))
    events = pl.DataFrame(
        rows, schema=["customer_code", "order_id", "product_key", "order_date"], orient="row"
    )
    s = split(events.lazy(), date(2024, 4, 15), 21)
    grid = {
        "n_groups": (3,),
        "within_decay": (0.9,),
        "group_decay": (0.7,),
        "neighbours": (100,),
        "alpha": (0.0, 0.9),
    }
    tuned = tifuknn.tune(s, grid)
    assert tuned.params.alpha == 0.9 and tuned.validation_customers == 300
    assert tuned.validation_hit == pytest.approx(1.0)


# -- bounded at scale: the seeded samples (TUNE_CUSTOMERS, NEIGHBOUR_POOL) --------------------


def test_sample_is_seeded_sorted_and_capped():
    assert tifuknn.sample(500, 500) is None and tifuknn.sample(10, 500) is None  # under the cap: all
    a, b = tifuknn.sample(1000, 300), tifuknn.sample(1000, 300)
    assert a is not None and len(a) == 300 and len(set(a.tolist())) == 300
    np.testing.assert_array_equal(a, b)  # deterministic
    assert (np.diff(a) > 0).all() and a.min() >= 0 and a.max() < 1000
    assert not np.array_equal(a, tifuknn.sample(1000, 300, seed=1))  # the seed is what fixes it


def test_pool_of_everyone_finds_the_same_neighbours():
    events, _ = _history(seed=4, customers=60, items=12)
    users = index(events.lazy(), "customer_code")
    items = index(events.lazy(), "product_key")
    vectors = tifuknn.pif_vectors(events.lazy(), users, items, tifuknn.PUBLISHED)
    rows = np.arange(users.height)
    full = tifuknn._neighbours(vectors, rows, 7)
    pooled = tifuknn._neighbours(vectors, rows, 7, np.arange(users.height))
    np.testing.assert_array_equal(full, pooled)


def test_pool_neighbours_are_the_nearest_of_the_pool_and_the_customer_first():
    events, _ = _history(seed=5, customers=80, items=12)
    users = index(events.lazy(), "customer_code")
    items = index(events.lazy(), "product_key")
    vectors = tifuknn.pif_vectors(events.lazy(), users, items, tifuknn.PUBLISHED)
    dense = vectors.toarray()
    pool = tifuknn.sample(users.height, 30)
    rows = np.arange(users.height)
    nbrs = tifuknn._neighbours(vectors, rows, 6, pool)
    for r in rows:
        candidates = np.union1d(pool, [r])
        dist = ((dense[candidates] - dense[r]) ** 2).sum(axis=1)
        assert set(nbrs[r].tolist()) <= set(candidates.tolist())
        assert len(set(nbrs[r].tolist())) == 6  # no candidate twice (a pool member is not doubled)
        np.testing.assert_allclose(
            np.sort(dist)[:6], ((dense[nbrs[r]] - dense[r]) ** 2).sum(axis=1), atol=1e-5
        )
        assert ((dense[nbrs[r, 0]] - dense[r]) ** 2).sum() <= 1e-6  # itself (or an identical vector)


def _weekly(customers: int) -> pl.DataFrame:
    rng = np.random.default_rng(3)
    rows = []
    for c in range(customers):
        own = f"P{rng.integers(0, 40):02d}"
        for w in range(20):
            day = date(2024, 1, 1) + timedelta(days=7 * w)
            rows.append((f"C{c:04d}", f"C{c}-{w}", own, day))
            rows.append((f"C{c:04d}", f"C{c}-{w}", f"P{rng.integers(0, 40):02d}", day))
    return pl.DataFrame(rows, schema=["customer_code", "order_id", "product_key", "order_date"], orient="row")


GRID_SMALL = {
    "n_groups": (3,),
    "within_decay": (0.9, 1.0),
    "group_decay": (0.7,),
    "neighbours": (10, 50),
    "alpha": (0.0, 0.5, 0.9),
}


def test_under_the_caps_tuning_and_lists_are_unchanged(monkeypatch):
    # the same customers with caps above their number (no sample) and with the caps off
    # altogether: the same setting, validation hit and lists
    s = split(_weekly(300).lazy(), date(2024, 4, 15), 21)
    customers = s.eligible
    tuned = tifuknn.tune(s, GRID_SMALL)
    lists = (
        tifuknn.recommend(s, customers, tuned.params).collect().sort("customer_code", "order", "product_key")
    )
    assert tuned.tuned_on == tuned.validation_customers == 300 and tuned.neighbour_pool is None
    assert tuned.as_dict()["sampled"] is False and "all 300 validation customers" in tuned.describe()
    monkeypatch.setattr(tifuknn, "TUNE_CUSTOMERS", 10**9)
    monkeypatch.setattr(tifuknn, "NEIGHBOUR_POOL", 10**9)
    monkeypatch.setattr(tifuknn, "LIST_NEIGHBOUR_POOL", 10**9)
    again = tifuknn.tune(s, GRID_SMALL)
    assert (again.params, again.validation_hit) == (tuned.params, tuned.validation_hit)
    same = (
        tifuknn.recommend(s, customers, again.params).collect().sort("customer_code", "order", "product_key")
    )
    assert same.equals(lists)


def test_over_the_caps_tuning_uses_the_seeded_samples_and_says_so(monkeypatch):
    monkeypatch.setattr(tifuknn, "TUNE_CUSTOMERS", 120)
    monkeypatch.setattr(tifuknn, "NEIGHBOUR_POOL", 150)
    monkeypatch.setattr(tifuknn, "LIST_NEIGHBOUR_POOL", 150)
    s = split(_weekly(300).lazy(), date(2024, 4, 15), 21)
    tuned = tifuknn.tune(s, GRID_SMALL)
    assert tuned.validation_customers == 300 and tuned.tuned_on == 120 and tuned.neighbour_pool == 150
    assert tuned.as_dict()["sampled"] is True
    text = tuned.describe()
    assert "a seeded sample of 120 of the 300 validation customers" in text and "150 customers" in text
    assert tifuknn.tune(s, GRID_SMALL) == tuned  # deterministic
    # the lists stay one per customer, from the pool's neighbours
    got = tifuknn.recommend(s, s.eligible, tuned.params).collect()
    assert got["customer_code"].n_unique() == s.eligible.collect().height


def test_tuning_is_reported_by_the_backtest_evaluation():
    from reco.backtest.evaluation import evaluate_cutoff

    events = _weekly(300)
    result = evaluate_cutoff(events.lazy(), date(2024, 4, 15), 21, None, n_resamples=10)
    info = result.as_dict()["tifu_knn_tuning"]
    assert info["validation_customers"] == info["tuned_on"] and info["sampled"] is False
    assert info["neighbour_pool"] is None
