import math

import numpy as np
import polars as pl
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from reco.backtest import metrics


def _recs(rows):
    return pl.LazyFrame(rows, schema=["method", "customer_code", "rank", "product_key"], orient="row")


def _pairs(rows):
    return pl.LazyFrame(rows, schema={"customer_code": pl.String, "product_key": pl.String}, orient="row")


def _value(table, method, metric, scope="overall"):
    row = table.filter(method=method, metric=metric, scope=scope)
    return row["value"].item(), row["n_customers"].item()


@pytest.fixture
def result():
    recs = _recs(
        [
            # u1: hits at ranks 1 and 3; X owned, Z new
            ("M", "u1", 1, "X"),
            ("M", "u1", 2, "Y"),
            ("M", "u1", 3, "Z"),
            # u2: no hit
            ("M", "u2", 1, "X"),
            ("M", "u2", 2, "Y"),
            ("M", "u2", 3, "W"),
            # u3 gets nothing from M
        ]
    )
    population = pl.LazyFrame(
        {"customer_code": ["u1", "u2", "u3"], "scope": ["REBUY", "CROSS_SELL", "REBUY"]}
    )
    test = _pairs([("u1", "X"), ("u1", "Z"), ("u1", "Q"), ("u1", "R"), ("u2", "Q"), ("u3", "X")])
    history = _pairs([("u1", "X"), ("u2", "Q"), ("u3", "X")])
    return metrics.evaluate(recs, population, test, history, catalogue_size=8, n_resamples=200)


def test_hit_precision_recall_on_a_hand_worked_example(result):
    assert _value(result, "M", "hit") == (pytest.approx(1 / 3), 3)
    assert _value(result, "M", "precision")[0] == pytest.approx((2 / 3) / 3)
    assert _value(result, "M", "recall")[0] == pytest.approx((2 / 4) / 3)


def test_ndcg_and_map_use_binary_gains_and_min_k_relevant(result):
    dcg = 1 + 1 / math.log2(4)
    idcg = 1 + 1 / math.log2(3) + 1 / math.log2(4)
    assert _value(result, "M", "ndcg")[0] == pytest.approx(dcg / idcg / 3)
    assert _value(result, "M", "map")[0] == pytest.approx(((1 + 2 / 3) / 3) / 3)


def test_new_item_hit_is_averaged_over_customers_who_bought_something_new(result):
    # u1 bought Z, Q, R new and was recommended Z; u2 bought nothing new; u3 nothing new
    assert _value(result, "M", "new_item_hit") == (pytest.approx(1.0), 1)
    # 5 of the 6 recommended products are new to their customer (u1's X is owned)
    assert _value(result, "M", "new_item_share")[0] == pytest.approx(5 / 6)


def test_coverage_counts_distinct_recommended_products_over_the_catalogue(result):
    assert _value(result, "M", "coverage")[0] == pytest.approx(4 / 8)


def test_scenario_scopes_report_their_own_customer_counts(result):
    assert _value(result, "M", "hit", "REBUY") == (pytest.approx(0.5), 2)
    assert _value(result, "M", "hit", "CROSS_SELL") == (pytest.approx(0.0), 1)


def test_bootstrap_interval_brackets_the_estimate(result):
    row = result.filter(method="M", metric="recall", scope="overall")
    assert row["ci_low"].item() <= row["value"].item() <= row["ci_high"].item()


def test_bootstrap_weights_resample_n_customers_each_time():
    w = metrics.bootstrap_weights(50, n_resamples=30, seed=1)
    assert w.shape == (30, 50)
    assert np.all(w.sum(axis=1) == 50)


@settings(max_examples=30, deadline=None)
@given(
    st.lists(
        st.tuples(st.sampled_from(["u1", "u2", "u3"]), st.integers(1, 3), st.sampled_from("ABCDE")),
        max_size=9,
    ),
    st.lists(st.tuples(st.sampled_from(["u1", "u2", "u3"]), st.sampled_from("ABCDEF")), max_size=10),
)
def test_every_ratio_metric_stays_between_zero_and_one(recs, test):
    recs_df = (
        pl.DataFrame(
            recs,
            schema={"customer_code": pl.String, "rank": pl.Int64, "product_key": pl.String},
            orient="row",
        )
        .unique(["customer_code", "rank"])
        .unique(["customer_code", "product_key"])
        .with_columns(method=pl.lit("M"))
    )
    table = metrics.evaluate(
        recs_df.lazy().select("method", "customer_code", "rank", "product_key"),
        pl.LazyFrame({"customer_code": ["u1", "u2", "u3"], "scope": ["overall"] * 3}),
        _pairs(test).unique(),
        _pairs([("u1", "A")]),
        catalogue_size=6,
        n_resamples=20,
    )
    values = table["value"].drop_nulls().to_list()
    assert all(0.0 <= v <= 1.0 + 1e-9 for v in values)


def test_paired_differences_are_judged_on_the_same_resamples():
    # 40 customers each buy P; A recommends P to 30 of them, B to the same 30 but one, C is A
    customers = [f"u{i:02d}" for i in range(40)]
    rows = []
    for i, c in enumerate(customers):
        rows.append(("A", c, 1, "P" if i < 30 else "Q"))
        rows.append(("B", c, 1, "P" if i < 29 else "Q"))
        rows.append(("C", c, 1, "P" if i < 30 else "Q"))
    population = pl.LazyFrame({"customer_code": customers, "scope": ["S"] * 40})
    test = _pairs([(c, "P") for c in customers])
    history = _pairs([(c, "H") for c in customers])
    table = metrics.evaluate(_recs(rows), population, test, history, 3, n_resamples=200, paired_with="A")
    diff = table.filter(metric="diff_hit", scope="overall")
    b, c = diff.filter(method="B").row(0, named=True), diff.filter(method="C").row(0, named=True)
    assert b["value"] == pytest.approx(1 / 40) and 0 <= b["ci_low"] <= b["value"] <= b["ci_high"]
    # the same lists: the paired difference is exactly 0, though each method's own interval is wide
    assert (c["value"], c["ci_low"], c["ci_high"]) == (0.0, 0.0, 0.0)
    own = table.filter(method="A", metric="hit", scope="overall").row(0, named=True)
    assert own["ci_high"] - own["ci_low"] > 0.1
    assert set(table.filter(metric="diff_hit")["scope"]) == {"overall", "S"}
    assert "A" not in set(diff["method"])


def test_bootstrap_weights_drawn_in_parts_equal_one_draw(monkeypatch):
    from reco.backtest import metrics

    n = 700
    whole = np.random.default_rng(5).multinomial(n, np.full(n, 1.0 / n), size=200).astype(np.float32)
    monkeypatch.setattr(metrics, "_DRAW_CELLS", 3 * n + 1)  # 3 resamples at a time
    parts = metrics.bootstrap_weights(n, 200, seed=5)
    assert parts.dtype == np.float32 and parts.shape == (200, n)
    np.testing.assert_array_equal(parts, whole)
