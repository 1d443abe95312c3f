"""Every file of the bad-file corpus loads (or fails) exactly as documented in expected.toml."""

from __future__ import annotations

import tomllib
from pathlib import Path

import pytest

from reco.ingest import LoadFailed, load_files
from reco.ingest.entities import ENTITIES
from tests.ingest.helpers import count, rows, scalar

CORPUS = Path(__file__).parent / "corpus"
EXPECTED = tomllib.loads((CORPUS / "expected.toml").read_text())


@pytest.mark.parametrize("case", sorted(EXPECTED), ids=sorted(EXPECTED))
def test_corpus_file_loads_as_documented(db, case):
    spec = EXPECTED[case]
    path = CORPUS / spec["file"]
    table = ENTITIES[spec["entity"]].qualified_table
    if "error" in spec:
        with pytest.raises(LoadFailed) as info:
            load_files(db, spec["entity"], [path])
        assert spec["error"] in str(info.value)
        assert count(db, table) == 0
        assert scalar(db, "select status from raw.load_batch") == "failed"
        return
    report = load_files(db, spec["entity"], [path])
    f = report.files[0]
    assert (f.rows_read, f.loaded, f.rejected, f.duplicates) == (
        spec["read"],
        spec["loaded"],
        spec.get("rejected", 0),
        spec.get("duplicates", 0),
    )
    assert f.rows_read == f.loaded + f.rejected + f.duplicates
    assert f.rejected_by_reason == spec.get("reasons", {})
    for key in ("encoding", "delimiter"):
        if key in spec:
            assert getattr(f, key) == spec[key]
    assert count(db, table) == spec["loaded"]
    assert count(db, "raw.reject") == spec.get("rejected", 0)


def test_cp1252_accents_and_euro_sign_are_decoded(db):
    load_files(db, "customers", [CORPUS / "cp1252_semicolon.csv"])
    got = dict(rows(db, "select customer_code, last_name from raw.customer"))
    assert got == {"C1": "Lefèvre", "C2": "Cœur", "C3": "Dupré — 5€"}
    optout = dict(rows(db, "select customer_code, is_optout from raw.customer"))
    assert optout == {"C1": False, "C2": True, "C3": False}


def test_bom_is_not_part_of_the_first_header_and_decimal_commas_are_read(db):
    load_files(db, "sales", [CORPUS / "utf8_bom_semicolon.csv"])
    got = rows(
        db,
        "select doc_ref, order_date::text, unit_price, amount_ht from raw.sales_line order by id",
    )
    assert [(d, o, float(p), float(a)) for d, o, p, a in got] == [
        ("F10", "2024-03-01", 450.0, 450.0),
        ("F10", "2024-03-01", 8.5, 51.0),
    ]


def test_quoted_fields_keep_delimiters_quotes_and_newlines(db):
    load_files(db, "sales", [CORPUS / "quoted_multiline.csv"])
    got = rows(db, "select product_label, unit_price from raw.sales_line order by source_row")
    assert got[0][0] == 'Coffret "Fête", 3 bouteilles\nrouge, blanc'
    assert float(got[0][1]) == 1234.5
    assert got[1][0] == 'Vin "nature"'


def test_ragged_rows_are_rejected_with_their_raw_text_and_field_counts(db):
    load_files(db, "sales", [CORPUS / "ragged_rows.csv"])
    got = rows(
        db, "select source_row, raw_text, reason_codes, details from raw.reject order by source_row"
    )
    assert [r[0] for r in got] == [2, 3]
    assert got[0][1] == "F40,2024-06-01,C7,P2,Too many,1,12.5,extra"
    assert got[0][2] == ["ragged_row"]
    assert "row has 8 fields, the header has 7" in got[0][3]
    assert "row has 4 fields" in got[1][3]


def test_bad_values_are_rejected_naming_the_column_and_what_was_expected(db):
    load_files(db, "sales", [CORPUS / "bad_dates.csv"])
    details = dict(rows(db, "select source_row, details from raw.reject"))
    assert (
        "column order_date: expected a date like 31/03/2024 (%d/%m/%Y), got '31/02/2023'"
        in details[1]
    )
    assert "got 'yesterday'" in details[2]
    assert "between 1900 and 2100" in details[3]


def test_sql_and_formula_text_is_stored_verbatim_and_never_executed(db):
    load_files(db, "sales", [CORPUS / "injection.csv"])
    labels = [
        r[0] for r in rows(db, "select product_label from raw.sales_line order by source_row")
    ]
    assert labels == [
        "Robert'); DROP TABLE raw.sales_line;--",
        '=HYPERLINK("http://evil.example","click")',
        "+cmd|' /C calc'!A0",
        "@SUM(1+1)",
        "-2+3",
    ]


def test_a_huge_field_is_rejected_as_too_long_and_kept_verbatim_in_rejects(db):
    load_files(db, "sales", [CORPUS / "huge_field.csv"])
    raw_text, reasons, details = rows(db, "select raw_text, reason_codes, details from raw.reject")[
        0
    ]
    assert reasons == ["too_long"]
    assert len(raw_text) > 200_000 and raw_text.startswith("F70,2024-01-01,C1,P1,AAAA")
    assert "product_label: expected at most 512 characters, got '200000 characters'" in details


def test_identical_lines_on_one_invoice_both_count(db):
    load_files(db, "sales", [CORPUS / "duplicate_lines.csv"])
    assert scalar(db, "select count(*) from raw.sales_line where doc_ref = 'F90'") == 2
    assert scalar(db, "select count(distinct line_key) from raw.sales_line") == 3
