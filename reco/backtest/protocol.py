"""The evaluation protocol of ``/work/shared/ANCHORS.md``, on purchase events.

A *purchase event* is one (customer, order, product) with its order date: the columns
``customer_code``, ``order_id``, ``product_key`` (strings) and ``order_date`` (date). Sales
lines become events through :func:`purchase_events`; the warehouse's ``order_line`` mart
already says which lines are purchases (``is_purchase``).

Given a global cutoff and a horizon of N days:

- training = every event strictly before the cutoff;
- test = each customer's distinct products in ``[cutoff, cutoff + N days)``;
- eligible customers bought both before and after the cutoff;
- the catalogue a method may recommend from = the products seen in training.

The issue that asked for this backtest wrote the window as ``(cutoff, cutoff + N]``; the
anchors use ``[cutoff, cutoff + N)`` with training strictly before the cutoff, and figures
only compare under one protocol, so this module follows the anchors (docs/evaluation.md).
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date, timedelta

import polars as pl

EVENT_SCHEMA = {
    "customer_code": pl.String,
    "order_id": pl.String,
    "product_key": pl.String,
    "order_date": pl.Date,
}

#: Product codes that are not products: postage, carriage, fees, manual adjustments,
#: discounts, samples, bad-debt entries and test products. Case-sensitive (``M`` and ``m``).
NON_PRODUCT_CODES = (
    "POST",
    "DOT",
    "C2",
    "C3",
    "M",
    "m",
    "D",
    "S",
    "B",
    "BANK CHARGES",
    "ADJUST",
    "ADJUST2",
    "AMAZONFEE",
    "CRUK",
    "TEST001",
    "TEST002",
)


def is_purchase_line(
    *,
    customer: str = "customer_code",
    product: str = "product_key",
    quantity: str = "quantity",
    unit_price: str = "unit_price",
    is_cancellation: pl.Expr | None = None,
) -> pl.Expr:
    """True for a line that counts as a purchase: a known customer, not a cancellation,
    quantity > 0, price > 0 and a product code that is not postage or a fee."""
    expr = (
        pl.col(customer).is_not_null()
        & pl.col(product).is_not_null()
        & (pl.col(quantity) > 0)
        & (pl.col(unit_price) > 0)
        & ~pl.col(product).is_in(NON_PRODUCT_CODES)
    )
    if is_cancellation is not None:
        expr = expr & ~is_cancellation
    return expr


def to_events(lines: pl.LazyFrame) -> pl.LazyFrame:
    """One event per (customer, order, product), dated by its earliest line. ``lines`` must
    already be purchase lines with the four event columns."""
    return (
        lines.select(
            pl.col("customer_code").cast(pl.String),
            pl.col("order_id").cast(pl.String),
            pl.col("product_key").cast(pl.String),
            pl.col("order_date").cast(pl.Date),
        )
        .group_by("customer_code", "order_id", "product_key")
        .agg(pl.col("order_date").min())
    )


@dataclass(frozen=True)
class Split:
    """Training and test sets for one cutoff, all lazy."""

    cutoff: date
    horizon_days: int
    #: events strictly before the cutoff
    train: pl.LazyFrame
    #: distinct (customer_code, product_key) bought in [cutoff, cutoff + horizon)
    test: pl.LazyFrame
    #: customer_code of customers who bought both before and in the window
    eligible: pl.LazyFrame
    #: product_key of every product seen in training
    catalogue: pl.LazyFrame

    @property
    def window_end(self) -> date:
        """First day after the test window."""
        return self.cutoff + timedelta(days=self.horizon_days)

    @property
    def history(self) -> pl.LazyFrame:
        """Distinct (customer_code, product_key) the customer bought before the cutoff."""
        return self.train.select("customer_code", "product_key").unique()


def split(events: pl.LazyFrame, cutoff: date, horizon_days: int) -> Split:
    """Split purchase events at ``cutoff`` with a test window of ``horizon_days`` days."""
    if horizon_days <= 0:
        raise ValueError(f"horizon_days must be a positive number of days, got {horizon_days}")
    end = cutoff + timedelta(days=horizon_days)
    train = events.filter(pl.col("order_date") < cutoff)
    test = (
        events.filter(pl.col("order_date") >= cutoff, pl.col("order_date") < end)
        .select("customer_code", "product_key")
        .unique()
    )
    eligible = (
        train.select("customer_code")
        .unique()
        .join(test.select("customer_code").unique(), on="customer_code", how="semi")
    )
    catalogue = train.select("product_key").unique()
    return Split(cutoff, horizon_days, train, test, eligible, catalogue)


def index(frame: pl.LazyFrame, column: str) -> pl.DataFrame:
    """The distinct values of ``column`` in ``frame``, sorted, numbered from 0 (``idx``): the
    rows and columns of the baselines' matrices."""
    return frame.select(column).unique().sort(column).with_row_index("idx").collect()


#: Scratch per block of rows of the baselines' matrices, in cells (float32: 4 bytes each,
#: float64: 8): bounds their memory whatever the numbers of customers and products.
BLOCK_CELLS = 20_000_000


def blocks(n_rows: int, width: int):
    """``(lo, hi)`` slices of ``n_rows`` rows, each slice × ``width`` at most
    :data:`BLOCK_CELLS` cells (one row at least)."""
    step = max(1, BLOCK_CELLS // max(width, 1))
    for lo in range(0, n_rows, step):
        yield lo, min(n_rows, lo + step)
