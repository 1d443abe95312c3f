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
