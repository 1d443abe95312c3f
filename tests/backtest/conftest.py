from __future__ import annotations

from datetime import date

import polars as pl
import pytest


def events(rows: list[tuple[str, str, str, str]]) -> pl.LazyFrame:
    """(customer, order, product, ISO date) tuples as purchase events."""
    return pl.LazyFrame(
        rows, schema=["customer_code", "order_id", "product_key", "order_date"], orient="row"
    ).with_columns(pl.col("order_date").str.to_date())


CUTOFF = date(2021, 6, 1)


@pytest.fixture
def small_events() -> pl.LazyFrame:
    return events(
        [
            # alice: A twice, B once (most recent), C once (older); buys A and D after
            ("alice", "o1", "A", "2021-01-10"),
            ("alice", "o1", "C", "2021-01-10"),
            ("alice", "o2", "A", "2021-03-01"),
            ("alice", "o3", "B", "2021-05-20"),
            ("alice", "o9", "A", "2021-06-01"),
            ("alice", "o9", "D", "2021-06-01"),
            # bob: buys A and D before, E after
            ("bob", "o4", "A", "2021-05-01"),
            ("bob", "o4", "D", "2021-05-01"),
            ("bob", "o10", "E", "2021-07-15"),
            # carol: only before (not eligible)
            ("carol", "o5", "B", "2021-04-01"),
            ("carol", "o5", "E", "2021-04-01"),
            # dave: only after (not eligible), F never in the training catalogue
            ("dave", "o11", "F", "2021-06-10"),
        ]
    )
