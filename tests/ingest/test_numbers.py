"""Reading numbers: a separator is decimal or thousands, never guessed; a value that cannot be
read one way is rejected with its reason, never altered."""

from __future__ import annotations

import csv
import io
from decimal import Decimal
from pathlib import Path

import pytest

import reco.ingest
from reco.cli.main import main
from reco.ingest import LoadOptions, load_files
from tests.ingest.helpers import rows

DATA = Path(__file__).parent / "data"
SAMPLE = DATA / "online_retail_ii_2009_2010_sample.csv"
MAPPINGS = Path(reco.ingest.__file__).parent / "mappings"
COUNTRIES_FR = {"United Kingdom": "Royaume-Uni", "EIRE": "Irlande (Éire)", "Belgium": "Belgique"}


def french_reexport(path: Path, lines: int = 300) -> list[dict]:
    """The first ``lines`` real lines of the Online Retail II sample (with a customer) saved
    again the French way: ';', cp1252, decimal commas ('1,25'), customer numbers as '14769,0',
    countries in French. Returns the source rows."""
    with SAMPLE.open(newline="") as fh:
        source = [r for r in csv.DictReader(fh) if r["Customer ID"]][:lines]
    out = io.StringIO()
    writer = csv.writer(out, delimiter=";", lineterminator="\r\n")
    writer.writerow(source[0].keys())
    for r in source:
        writer.writerow(
            {
                **r,
                "Price": r["Price"].replace(".", ","),
                "Customer ID": r["Customer ID"].replace(".", ","),
                "Country": COUNTRIES_FR.get(r["Country"], r["Country"]),
            }.values()
        )
    path.write_bytes(out.getvalue().encode("cp1252"))
    return source


def landed_prices(db) -> dict[int, Decimal]:
    return dict(rows(db, "select source_row, unit_price from raw.sales_line"))


def test_decimal_comma_prices_are_rejected_not_multiplied_by_100_when_the_mapping_forces_a_point(
    use_db, tmp_path, capsys
):
    f = tmp_path / "online_retail_fr.csv"
    source = french_reexport(f)
    assert main(["load", "sales", str(f), "--mapping", "online_retail_ii"]) == 0
    out = capsys.readouterr().out
    prices = landed_prices(use_db)
    # Nothing landed with another price than the file's (before: '1,25' landed as 125).
    for row, price in prices.items():
        assert price == Decimal(source[row - 1]["Price"]), row
    with_comma = {i for i, r in enumerate(source, 1) if "." in r["Price"]}
    assert with_comma and not with_comma & set(prices)
    assert set(prices) == set(range(1, len(source) + 1)) - with_comma  # '10' is still 10
    rejected = rows(use_db, "select source_row, reason_codes, details, raw_text from raw.reject")
    assert {r[0] for r in rejected} == with_comma
    row, reasons, details, raw_text = min(rejected)
    assert reasons == ["bad_number"]
    assert "column unit_price (source 'Price'): expected a number with '.' as the decimal" in details
    assert (
        "set by the mapping" in details and f"got '{source[row - 1]['Price'].replace('.', ',')}'" in details
    )
    assert raw_text.split(";")[5] == source[row - 1]["Price"].replace(".", ",")
    assert "bad_number" in out


def test_the_french_reexport_loads_exactly_when_the_column_shows_its_decimal_comma(db, tmp_path):
    f = tmp_path / "online_retail_fr.csv"
    source = french_reexport(f)
    mapping = tmp_path / "fr.toml"
    mapping.write_text((MAPPINGS / "online_retail_ii.toml").read_text().replace('decimal = "."\n', ""))
    report = load_files(db, "sales", [f], LoadOptions(mapping=mapping))
    assert (report.loaded, report.rejected) == (len(source), 0)
    assert report.files[0].encoding == "cp1252"
    prices = landed_prices(db)
    assert all(prices[i] == Decimal(r["Price"]) for i, r in enumerate(source, 1))
    assert {c for (c,) in rows(db, "select distinct customer_code from raw.sales_line")} == {
        r["Customer ID"].removesuffix(".0") for r in source
    }
    assert "Irlande (Éire)" in {c for (c,) in rows(db, "select distinct country from raw.sales_line")}


def _load_prices(db, tmp_path, prices: list[str], decimal: str | None = None):
    """Load one sales line per price (';'-separated), with ``decimal`` forced or not; return
    {price text: landed Decimal or the reject's (reasons, details)}."""
    lines = "".join(f"F{len(prices)}-{i};2024-01-05;C1;P{i};1;{p}\n" for i, p in enumerate(prices))
    f = tmp_path / f"prices_{decimal}_{len(prices)}.csv"
    f.write_text("doc_ref;order_date;customer_code;product_key;quantity;unit_price\n" + lines)
    options = LoadOptions()
    if decimal:
        options.mapping = tmp_path / "m.toml"
        options.mapping.write_text(f'decimal = "{decimal}"\n')
    batch = (load_files(db, "sales", [f], options).batch_id,)
    got = {
        prices[r - 1]: p
        for r, p in rows(db, "select source_row, unit_price from raw.sales_line where batch_id = %s", batch)
    }
    for r, reasons, details in rows(
        db, "select source_row, reason_codes, details from raw.reject where batch_id = %s", batch
    ):
        got[prices[r - 1]] = (reasons, details)
    return got


@pytest.mark.parametrize(
    ("decimal", "expected"),
    [
        (
            ".",
            {
                "1,234,567.5": Decimal("1234567.5"),
                "1 234.50": Decimal("1234.5"),
                "1\u00a0234.5 €": Decimal("1234.5"),
                "1'234.5": Decimal("1234.5"),
                "1,234": Decimal("1234"),
                "0.42": Decimal("0.42"),
                "1,25": "bad_number",
                "12,34,567": "bad_number",
                "01,234": "bad_number",
                "1,2345.5": "bad_number",
                "1.234,5": "bad_number",
            },
        ),
        (
            ",",
            {
                "1.234.567,5": Decimal("1234567.5"),
                "1 234,50": Decimal("1234.5"),
                "12,5 €": Decimal("12.5"),
                "1.234": Decimal("1234"),
                "0,42": Decimal("0.42"),
                "1.25": "bad_number",
                "1,234.5": "bad_number",
                "1.23.456": "bad_number",
            },
        ),
    ],
)
def test_thousands_separators_are_accepted_only_between_groups_of_three_digits(
    db, tmp_path, decimal, expected
):
    got = _load_prices(db, tmp_path, list(expected), decimal)
    for text, want in expected.items():
        if isinstance(want, Decimal):
            assert got[text] == want, text
        else:
            assert got[text][0] == [want], text
            assert f"expected a number with '{decimal}' as the decimal separator" in got[text][1]


def test_the_column_tells_the_decimal_separator_and_a_value_that_reads_two_ways_is_rejected(db, tmp_path):
    # '2,5' can only be a decimal comma: the column's '1.234' is then 1234.
    got = _load_prices(db, tmp_path, ["2,5", "1.234", "1.234,5", "1,2,3"])
    assert got["2,5"] == Decimal("2.5") and got["1.234"] == Decimal("1234")
    assert got["1.234,5"] == Decimal("1234.5")
    assert (
        got["1,2,3"][0] == ["bad_number"]
        and "',' as the decimal separator (as in the column's other" in got["1,2,3"][1]
    )
    # A column where some values read only with a point and others only with a comma tells
    # nothing: each value is read alone, and one that reads two ways is rejected.
    got = _load_prices(db, tmp_path, ["2,5", "1.25", "1.234"])
    assert got["2,5"] == Decimal("2.5") and got["1.25"] == Decimal("1.25")
    assert got["1.234"][0] == ["ambiguous_number"]


def test_a_number_that_reads_two_ways_is_rejected_as_ambiguous(db, tmp_path):
    got = _load_prices(db, tmp_path, ["1,234", "1.500", "12", "1 500"])
    assert got["12"] == Decimal("12") and got["1 500"] == Decimal("1500")
    for text in ("1,234", "1.500"):
        reasons, details = got[text]
        assert reasons == ["ambiguous_number"], text
        assert "column unit_price: expected a number that reads one way" in details
        assert "set decimal in a mapping" in details
