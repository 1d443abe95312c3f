"""Mappings that derive columns: a constant, a concatenation, a customer-day basket (exports
with no receipt number). Real PostgreSQL; the derivations are audited in raw.load_batch."""

from __future__ import annotations

from pathlib import Path

import pytest

from reco.errors import RecoError
from reco.ingest import LoadFailed, LoadOptions, load_files
from tests.ingest.helpers import count, rows, scalar


def write(path: Path, text: str) -> Path:
    path.write_text(text, encoding="utf-8")
    return path


BASKET_MAPPING = """entity = "sales"
[columns]
customer_code = "Client"
order_ts = "Date"
product_key = "Article"
quantity = "Qty"
unit_price = "Price"
doc_ref = { basket = "customer_day" }
country = { constant = "FR" }
"""

# No receipt number: two visits of C1 on the 5th are one basket, the 6th another.
NO_RECEIPT = (
    "Client,Date,Article,Qty,Price\n"
    "C1,2024-01-05 09:00,P1,1,2.5\n"
    "C1,2024-01-05 18:30,P2,2,1.2\n"
    "C1,2024-01-06 10:00,P1,1,2.5\n"
    "AV7,2024-01-05 10:00,P1,1,2.5\n"
    "C2,2024-01-05 10:00,P3,-1,4\n"
)


def test_sales_without_receipt_number_load_as_customer_day_baskets(db, tmp_path):
    mapping = write(tmp_path / "grocery.toml", BASKET_MAPPING)
    f = write(tmp_path / "tickets.csv", NO_RECEIPT)
    report = load_files(db, "sales", [f], LoadOptions(mapping=mapping))
    assert (report.loaded, report.rejected) == (5, 0)
    got = rows(
        db, "select doc_ref, customer_code, country, line_type from raw.sales_line order by source_row"
    )
    assert got == [
        ("2024-01-05/C1", "C1", "FR", "sale"),
        ("2024-01-05/C1", "C1", "FR", "sale"),
        ("2024-01-06/C1", "C1", "FR", "sale"),
        # a customer code starting with the default credit-note prefix AV is no cancellation
        ("2024-01-05/AV7", "AV7", "FR", "sale"),
        ("2024-01-05/C2", "C2", "FR", "return"),
    ]
    assert scalar(db, "select count(distinct doc_ref) from raw.sales_line") == 4


def test_the_batch_audit_says_how_doc_ref_was_derived(db, tmp_path):
    mapping = write(tmp_path / "grocery.toml", BASKET_MAPPING)
    f = write(tmp_path / "tickets.csv", NO_RECEIPT)
    report = load_files(db, "sales", [f], LoadOptions(mapping=mapping))
    derived = scalar(
        db, "select options -> 'derived' from raw.load_batch where batch_id = %s", (report.batch_id,)
    )
    assert derived == {
        "doc_ref": {"basket": "customer_day", "means": "one order per customer and order date"},
        "country": {"constant": "FR"},
    }


def test_reloading_baskets_loads_nothing_new(db, tmp_path):
    mapping = write(tmp_path / "grocery.toml", BASKET_MAPPING)
    f = write(tmp_path / "tickets.csv", NO_RECEIPT)
    load_files(db, "sales", [f], LoadOptions(mapping=mapping))
    again = load_files(db, "sales", [f], LoadOptions(mapping=mapping, reload=True))
    assert (again.loaded, again.duplicates) == (0, 5)
    # a later export overlapping the first: only its new line lands
    later = write(tmp_path / "tickets2.csv", NO_RECEIPT + "C3,2024-01-07 10:00,P1,1,2.5\n")
    report = load_files(db, "sales", [later], LoadOptions(mapping=mapping))
    assert (report.loaded, report.duplicates) == (1, 5)
    assert count(db, "raw.sales_line") == 6


def test_a_basket_line_without_customer_is_rejected_for_its_customer_only(db, tmp_path):
    mapping = write(tmp_path / "grocery.toml", BASKET_MAPPING)
    f = write(
        tmp_path / "tickets.csv", "Client,Date,Article,Qty,Price\n,2024-01-05,P1,1,2\nC1,2024-01-05,P1,1,2\n"
    )
    report = load_files(db, "sales", [f], LoadOptions(mapping=mapping))
    assert (report.loaded, report.rejected) == (1, 1)
    assert report.rejected_by_reason == {"missing_customer": 1}


def test_concat_builds_doc_ref_from_store_till_and_receipt(db, tmp_path):
    mapping = write(
        tmp_path / "pos.toml",
        '[columns]\ndoc_ref = { concat = ["Store", "Till", "Receipt"], sep = "-" }\n'
        'order_date = "Day"\ncustomer_code = "Card"\nproduct_key = "Sku"\nquantity = "Qty"\n'
        'amount_ht = "Net"\n',
    )
    f = write(
        tmp_path / "pos.csv",
        "Store,Till,Receipt,Day,Card,Sku,Qty,Net\n"
        "12, 3 ,4567,2024-02-01,K1,S1,1,3.5\n"
        "12,3,4567,2024-02-01,K1,S2,1,1\n"
        "12,,4568,2024-02-01,K2,S1,1,3.5\n",
    )
    report = load_files(db, "sales", [f], LoadOptions(mapping=mapping))
    assert (report.loaded, report.rejected) == (2, 1)
    assert rows(db, "select distinct doc_ref from raw.sales_line") == [("12-3-4567",)]
    assert report.rejected_by_reason == {"missing_doc_ref": 1}


def test_a_constant_channel_on_contacts(db, tmp_path):
    mapping = write(tmp_path / "c.toml", '[columns]\nchannel = { constant = "email" }\n')
    f = write(tmp_path / "contacts.csv", "customer_code,contact_date\nC1,2024-03-01\nC2,2024-03-02\n")
    load_files(db, "contacts", [f], LoadOptions(mapping=mapping))
    assert rows(db, "select distinct channel from raw.contact") == [("email",)]


def test_a_constant_is_typed_and_checked_like_a_file_value(db, tmp_path):
    mapping = write(tmp_path / "p.toml", "[columns]\npremium_tier = { constant = 7 }\n")
    f = write(tmp_path / "products.csv", "product_key\nP1\n")
    with pytest.raises(LoadFailed) as failed:
        load_files(db, "products", [f], LoadOptions(mapping=mapping, max_reject_rate=0))
    (reject,) = failed.value.report.sample_rejects
    assert reject.reason_codes == ["out_of_range"]
    assert "premium_tier (source 'derived: constant '7'')" in reject.details


@pytest.mark.parametrize(
    ("columns", "message"),
    [
        ("is_optout = { constant = false }", "a consent flag is never a constant"),
        ('doc_ref = { from = "Invoice", basket = "customer_day" }', "expected one of from, constant"),
        ('doc_ref = { basket = "customer_week" }', "basket must be one of 'customer_day'"),
        ('doc_ref = { concat = ["Store"] }', "concat needs at least two source columns"),
        ('doc_ref = { constant = "x", sep = "-" }', "sep only goes with concat"),
        ('country = { basket = "customer_day" }', "basket derives the sales doc_ref only"),
    ],
)
def test_bad_derivations_are_one_clear_error(db, tmp_path, columns, message):
    mapping = write(tmp_path / "m.toml", f"[columns]\n{columns}\n")
    entity = "customers" if "optout" in columns else "sales"
    with pytest.raises(RecoError, match=message):
        load_files(db, entity, [tmp_path / "m.toml"], LoadOptions(mapping=mapping))


def test_a_missing_concat_source_or_a_header_for_a_derived_column_is_a_clear_error(db, tmp_path):
    mapping = write(tmp_path / "pos.toml", '[columns]\ndoc_ref = { concat = ["Store", "Receipt"] }\n')
    f = write(
        tmp_path / "s.csv",
        "Store,order_date,customer_code,product_key,quantity,amount_ht\n1,2024-01-01,C,P,1,1\n",
    )
    with pytest.raises(LoadFailed, match=r"missing column 'Receipt', needed to derive 'doc_ref'"):
        load_files(db, "sales", [f], LoadOptions(mapping=mapping))
    g = write(
        tmp_path / "t.csv", "doc_ref,Store,Receipt,order_date,customer_code,product_key,quantity,amount_ht\n"
    )
    with pytest.raises(LoadFailed, match=r"column 'doc_ref' maps to 'doc_ref', which the mapping .* derives"):
        load_files(db, "sales", [g], LoadOptions(mapping=mapping))
