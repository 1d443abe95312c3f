"""Real exports: the Online Retail II sample (committed) and the full files (when present)."""

from __future__ import annotations

from pathlib import Path

import polars as pl
import pytest

from reco.ingest import LoadOptions, load_files
from tests.ingest.helpers import rows, scalar
from tests.support import online_retail

DATA = Path(__file__).parent / "data"
SAMPLE_A = DATA / "online_retail_ii_2009_2010_sample.csv"
SAMPLE_B = DATA / "online_retail_2010_2011_sample.csv"
FULL_A, FULL_B = online_retail.default_paths()
MAPPING = LoadOptions(mapping="online_retail_ii")


def _canonical(df: pl.DataFrame) -> pl.DataFrame:
    return df.rename(
        {"InvoiceNo": "Invoice", "UnitPrice": "Price", "CustomerID": "Customer ID"}, strict=False
    )


def test_both_sample_headers_load_with_the_shipped_mapping_and_overlap_counts_once(db):
    a = _canonical(pl.read_csv(SAMPLE_A, infer_schema=False))
    b = _canonical(pl.read_csv(SAMPLE_B, infer_schema=False))
    report = load_files(db, "sales", [SAMPLE_A, SAMPLE_B], MAPPING)
    fa, fb = report.files
    no_customer = [df.get_column("Customer ID").is_null().sum() for df in (a, b)]
    shared = set(a.get_column("Invoice")) & set(b.get_column("Invoice"))
    overlap = b.filter(pl.col("Invoice").is_in(list(shared)) & pl.col("Customer ID").is_not_null())
    assert (fa.rows_read, fa.rejected, fa.duplicates) == (a.height, no_customer[0], 0)
    assert (fb.rows_read, fb.rejected, fb.duplicates) == (b.height, no_customer[1], overlap.height)
    assert report.rejected_by_reason == {"missing_customer": sum(no_customer)}
    # customer ids exported as 12346.0 become "12346"
    customers = {r[0] for r in rows(db, "select distinct customer_code from raw.sales_line")}
    expected = set(pl.concat([a, b]).get_column("Customer ID").drop_nulls().str.replace(r"\.0$", ""))
    assert customers == expected
    # invoices starting with C are cancellations, unless the line is postage/fee (adjustment)
    types = dict(rows(db, "select line_type, count(*) from raw.sales_line group by 1"))
    cancel = scalar(
        db,
        "select count(*) from raw.sales_line where doc_ref like 'C%' and line_type <> 'adjustment'",
    )
    assert types["cancellation"] == cancel > 0
    assert types["adjustment"] == scalar(
        db,
        "select count(*) from raw.sales_line where product_key in ('POST', 'DOT', 'M', 'C2', 'D', "
        "'BANK CHARGES', 'AMAZONFEE', 'ADJUST', 'PADS', 'CRUK', 'S') or doc_ref like 'A%'",
    )


def _figures_from_db(db, file: Path, overlap_from: str | None) -> dict:
    """README figures for one file: loaded rows of that file (plus, for a file loaded second, the
    earlier batch's lines in the overlap that it duplicated) and its rejected rows."""
    loaded = "select customer_code, doc_ref, quantity * unit_price as amount from raw.sales_line_lineage "
    loaded += "where source_file = %(f)s"
    if overlap_from:
        loaded += " or (source_file <> %(f)s and order_ts >= %(o)s)"
    rejected = (
        "select null as customer_code, raw_text::jsonb ->> 'Invoice' as doc_ref, "
        "(raw_text::jsonb ->> 'Quantity')::numeric * (raw_text::jsonb ->> 'Price')::numeric "
        "as amount "
        "from raw.reject where source_file = %(f)s"
    )
    if "2010_2011" in file.name:
        rejected = rejected.replace("'Invoice'", "'InvoiceNo'").replace("'Price'", "'UnitPrice'")
    sql = (
        f"with l as ({loaded}), r as ({rejected}), "
        "a as (select * from l union all select * from r) "
        "select count(distinct customer_code), (select count(*) from r), "
        "count(*) filter (where doc_ref like 'C%%'), round(sum(amount), 2) from a"
    )
    n, no_customer, cancelled, total = rows(db, sql, {"f": str(file), "o": overlap_from})[0]
    return {
        "customers": n,
        "no_customer": no_customer,
        "cancelled": cancelled,
        "total": float(total),
    }


@pytest.mark.skipif(not FULL_A.exists() or not FULL_B.exists(), reason="Online Retail II not present")
def test_full_online_retail_exports_reconcile_with_the_published_figures(db):
    first = load_files(db, "sales", [FULL_A], MAPPING)
    second = load_files(db, "sales", [FULL_B], MAPPING)
    fa, fb = first.files[0], second.files[0]
    assert (fa.rows_read, fb.rows_read) == (525_461, 541_909)
    assert fa.balanced and fb.balanced
    # lines without a customer are rejected (raw.sales_line.customer_code is required)
    assert (fa.rejected, fb.rejected) == (107_927, 135_080)
    assert set(first.rejected_by_reason) == set(second.rejected_by_reason) == {"missing_customer"}
    # the overlap (2010-12-01..09) was already landed by the first file: every one of its lines
    # with a customer is a skipped duplicate, nothing else is
    overlap = scalar(
        db,
        "select count(*) from raw.sales_line_lineage where source_file = %s and order_ts >= '2010-12-01'",
        (str(FULL_A),),
    )
    assert fa.duplicates == 0 and fb.duplicates == overlap > 0
    assert _figures_from_db(db, FULL_A, None) == {
        "customers": 4_383,
        "no_customer": 107_927,
        "cancelled": 10_206,
        "total": 9_539_484.63,
    }
    assert _figures_from_db(db, FULL_B, "2010-12-01") == {
        "customers": 4_372,
        "no_customer": 135_080,
        "cancelled": 9_288,
        "total": 9_747_747.93,
    }
