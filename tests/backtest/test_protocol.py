from datetime import date

import polars as pl

from reco.backtest.protocol import is_purchase_line, split, to_events
from tests.backtest.conftest import CUTOFF, events


def _set(frame: pl.LazyFrame, *cols: str) -> set:
    return set(frame.select(*cols).collect().iter_rows())


def test_training_is_strictly_before_cutoff_and_window_is_half_open():
    ev = events(
        [
            ("a", "1", "P", "2021-05-31"),
            ("a", "2", "Q", "2021-06-01"),  # cutoff day: test
            ("a", "3", "R", "2021-08-29"),  # cutoff + 89 days: test
            ("a", "4", "S", "2021-08-30"),  # cutoff + 90 days: outside the window
        ]
    )
    s = split(ev, CUTOFF, 90)
    assert _set(s.train, "product_key") == {("P",)}
    assert _set(s.test, "product_key") == {("Q",), ("R",)}
    assert s.window_end == date(2021, 8, 30)


def test_eligible_customers_bought_before_and_in_the_window(small_events):
    s = split(small_events, CUTOFF, 90)
    assert _set(s.eligible, "customer_code") == {("alice",), ("bob",)}
    assert _set(s.catalogue, "product_key") == {("A",), ("B",), ("C",), ("D",), ("E",)}


def test_test_set_is_distinct_products_per_customer():
    ev = events(
        [
            ("a", "1", "P", "2021-05-01"),
            ("a", "2", "Q", "2021-06-02"),
            ("a", "3", "Q", "2021-06-03"),
        ]
    )
    assert split(ev, CUTOFF, 90).test.collect().height == 1


def test_purchase_lines_exclude_cancellations_fees_unknown_customers_and_non_positive():
    lines = pl.DataFrame(
        {
            "customer_code": ["a", "a", "a", "a", "a", None, "a"],
            "order_id": ["1", "C2", "3", "4", "5", "6", "7"],
            "product_key": ["P", "P", "POST", "P", "P", "P", "M"],
            "quantity": [1, 1, 1, 0, 2, 1, 1],
            "unit_price": [1.0, 1.0, 5.0, 1.0, 0.0, 1.0, 3.0],
            "order_date": [date(2021, 1, 1)] * 7,
        }
    )
    kept = lines.filter(is_purchase_line(is_cancellation=pl.col("order_id").str.starts_with("C")))
    assert kept["order_id"].to_list() == ["1"]


def test_one_event_per_customer_order_product_dated_by_its_first_line():
    lines = pl.LazyFrame(
        {
            "customer_code": ["a", "a", "a"],
            "order_id": ["1", "1", "2"],
            "product_key": ["P", "P", "P"],
            "order_date": [date(2021, 1, 2), date(2021, 1, 1), date(2021, 2, 1)],
        }
    )
    out = to_events(lines).sort("order_id").collect()
    assert out["order_date"].to_list() == [date(2021, 1, 1), date(2021, 2, 1)]
