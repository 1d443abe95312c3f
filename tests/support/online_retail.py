"""The Online Retail II Parquet exports (UCI dataset 502): where they are, and their purchase
events read straight from them.

Used by the tests and the benchmark to check the protocol against the anchor figures
without a database. The two yearly files overlap on 2010-12-01..09; the overlap collapses
because an event is one (customer, order, product).

The exports are not in the repository: ``RECO_ONLINE_RETAIL_DIR`` names their folder, else
``shared/datasets/online-retail-ii`` beside the checkout (or beside its parent, for a git
worktree under ``wt/``). Tests that need them skip when they are not there.
"""

from __future__ import annotations

import os
from collections.abc import Iterable
from pathlib import Path

import polars as pl

from reco.backtest.protocol import is_purchase_line, to_events

FILES = ("online_retail_ii_2009_2010.parquet", "online_retail_2010_2011.parquet")
_ROOT = Path(__file__).resolve().parents[2]


def dataset_dir() -> Path:
    """The folder of the exports (see the module's docstring); the first candidate when none
    exists, so that a skip names where they were looked for."""
    shared = Path("shared") / "datasets" / "online-retail-ii"
    candidates = [_ROOT.parent / shared, _ROOT.parent.parent / shared]
    if os.environ.get("RECO_ONLINE_RETAIL_DIR"):
        candidates.insert(0, Path(os.environ["RECO_ONLINE_RETAIL_DIR"]))
    return next((p for p in candidates if p.is_dir()), candidates[0])


#: Both header variants of the export, mapped to one set of names.
_RENAMES = {
    "Invoice": "order_id",
    "InvoiceNo": "order_id",
    "StockCode": "product_key",
    "Quantity": "quantity",
    "InvoiceDate": "order_ts",
    "Price": "unit_price",
    "UnitPrice": "unit_price",
    "Customer ID": "customer_code",
    "CustomerID": "customer_code",
}


def default_paths(directory: Path | None = None) -> list[Path]:
    return [(directory or dataset_dir()) / name for name in FILES]


def _scan(path: Path) -> pl.LazyFrame:
    frame = pl.scan_parquet(path)
    names = frame.collect_schema().names()
    return frame.rename({k: v for k, v in _RENAMES.items() if k in names}).select(
        pl.col("order_id").cast(pl.String),
        pl.col("product_key").cast(pl.String),
        pl.col("quantity").cast(pl.Float64),
        pl.col("unit_price").cast(pl.Float64),
        # customer ids are read as floats (17850.0) by the spreadsheet conversion
        pl.col("customer_code").cast(pl.Int64).cast(pl.String),
        pl.col("order_ts").cast(pl.String).str.to_datetime().dt.date().alias("order_date"),
    )


def read_events(paths: Iterable[Path] | None = None) -> pl.LazyFrame:
    """Purchase events of the exports (a cancellation invoice number starts with C)."""
    lines = pl.concat([_scan(Path(p)) for p in (paths or default_paths())])
    return to_events(lines.filter(is_purchase_line(is_cancellation=pl.col("order_id").str.starts_with("C"))))
