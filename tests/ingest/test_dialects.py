"""Property: amounts and accented labels written in any supported dialect (decimal '.' or ',';
thousands ',' '.' space, non-breaking space or none; utf-8, cp1252, latin-1 or utf-16 with a
BOM; any delimiter) load back exactly, or are rejected with a reason. Never altered.

Each example is one file of many random rows, loaded into the real PostgreSQL fixture; the
landed numerics are compared with the Decimals that were written."""

from __future__ import annotations

import csv
import io
import itertools
import re
from decimal import Decimal

import pytest
from hypothesis import HealthCheck, event, given, settings
from hypothesis import strategies as st

from reco.ingest import LoadFailed, LoadOptions, load_files
from tests.ingest.helpers import rows

HEADER = [
    "doc_ref",
    "order_date",
    "customer_code",
    "product_key",
    "product_label",
    "quantity",
    "unit_price",
    "amount_ht",
]
WORDS = [
    "crème",
    "brûlée",
    "pâté",
    "Noël",
    "Müller",
    "señor",
    "façade",
    "Größe",
    "Ålborg",
    "déjà",
    "vin",
    "rouge",
]
#: Characters every single-byte encoding under test reads alike (latin-1's printable range).
LATIN = "".join(chr(c) for c in range(0x20, 0x7F)) + "".join(chr(c) for c in range(0xA1, 0x100))
WIDE = LATIN + "œŒ€—…’Ωж中文😀"
_files = itertools.count()


def amounts(low: str) -> st.SearchStrategy[Decimal]:
    """Any amount (0 to 4 decimals), often whole thousands or 3 decimals: the values a
    separator could make ambiguous ('1,234')."""
    high = Decimal("99999999.9999")
    return st.one_of(
        st.decimals(min_value=Decimal(low), max_value=high, places=4),
        st.integers(min_value=max(int(Decimal(low)), -999_999), max_value=999_999).map(Decimal),
        st.decimals(min_value=max(Decimal(low), Decimal(-999)), max_value=Decimal(999), places=3),
    ).map(lambda d: d.quantize(Decimal(10) ** -st_places(d)))


def st_places(d: Decimal) -> int:
    """Keep the number of decimals the value needs (0 to 4), so '12' is written '12'."""
    return max(0, min(4, -d.normalize().as_tuple().exponent))


def written(d: Decimal, decimal: str, thousands: str) -> str:
    """``d`` as an export in this dialect writes it: '-1 234 567,5'."""
    sign = "-" if d < 0 else ""
    whole, _, fraction = f"{abs(d):f}".partition(".")
    if thousands:
        whole = f"{int(whole):,}".replace(",", thousands)
    return sign + whole + (decimal + fraction if fraction else "")


def label(draw, encoding: str) -> str:
    words = draw(st.lists(st.sampled_from(WORDS), min_size=1, max_size=3))
    extra = draw(st.text(alphabet=WIDE if encoding.startswith("utf") else LATIN, max_size=6))
    return ("L " + " ".join(words) + " " + extra).strip()


@st.composite
def exports(draw):
    decimal = draw(st.sampled_from([".", ","]))
    thousands = draw(st.sampled_from([t for t in [",", ".", " ", "\u00a0", ""] if t != decimal]))
    encoding = draw(st.sampled_from(["utf-8", "cp1252", "latin-1", "utf-16"]))
    delimiter = draw(st.sampled_from([",", ";", "\t", "|"]))
    n = draw(st.integers(min_value=1, max_value=40))
    prices = draw(st.lists(amounts("0"), min_size=n, max_size=n))  # a negative price is out of range
    totals = draw(st.lists(amounts("-99999999.9999"), min_size=n, max_size=n))
    labels = [label(draw, encoding) for _ in range(n)]
    force_decimal = draw(st.booleans())
    give_encoding = draw(st.booleans())
    return decimal, thousands, encoding, delimiter, prices, totals, labels, force_decimal, give_encoding


def _reads_two_ways(text: str) -> bool:
    """'1,234' or '-1.500': one separator, after 1 to 3 digits (not starting with 0) and before
    exactly 3: a decimal separator, or a thousands one."""
    return re.fullmatch(r"-?[1-9][0-9]{0,2}[,.][0-9]{3}", text) is not None


@settings(
    max_examples=40,
    deadline=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
)
@given(export=exports())
def test_amounts_and_labels_in_any_dialect_load_exactly_or_are_rejected_with_a_reason(db, tmp_path, export):
    decimal, thousands, encoding, delimiter, prices, totals, labels, force_decimal, give_encoding = export
    no = next(_files)
    out = io.StringIO()
    writer = csv.writer(out, delimiter=delimiter, lineterminator="\r\n")
    writer.writerow(HEADER)
    price_text = [written(p, decimal, thousands) for p in prices]
    total_text = [written(t, decimal, thousands) for t in totals]
    for i, (p, t, name) in enumerate(zip(price_text, total_text, labels, strict=True)):
        writer.writerow([f"D{no}-{i}", "2024-03-31", f"C{no}", f"P{i}", name, "1", p, t])
    path = tmp_path / f"export_{no}.csv"
    path.write_bytes(out.getvalue().encode(encoding))
    mapping = tmp_path / f"dialect_{no}.toml"
    mapping.write_text(f'decimal = "{decimal}"\n' if force_decimal else "")
    options = LoadOptions(mapping=mapping, encoding=encoding if give_encoding else None)
    try:
        report = load_files(db, "sales", [path], options)
    except LoadFailed as exc:
        # The only file-level refusal allowed: an encoding the detector is unsure of (never
        # for UTF-8 or a BOM, which are certain).
        assert not give_encoding and encoding in ("cp1252", "latin-1"), str(exc)
        assert "unsure of the encoding" in str(exc) and "--encoding" in str(exc)
        event("file refused: encoding unsure")
        return
    f = report.files[0]
    if not give_encoding:
        assert f.encoding_chosen_by == ("BOM" if encoding == "utf-16" else "detected")
    batch = (report.batch_id,)
    landed = {
        r: (p, t, name)
        for r, p, t, name in rows(
            db,
            "select source_row, unit_price, amount_ht, product_label from raw.sales_line where batch_id = %s",
            batch,
        )
    }
    rejected = dict(rows(db, "select source_row, reason_codes from raw.reject where batch_id = %s", batch))
    event("some rows ambiguous" if rejected else "every row loaded")
    assert set(landed) | set(rejected) == set(range(1, len(prices) + 1))
    for row, (p, t, name) in landed.items():
        i = row - 1
        assert (p, t, name) == (prices[i], totals[i], labels[i]), (price_text[i], total_text[i])
    for row, reasons in rejected.items():
        i = row - 1
        # Only a number that reads two ways, in a column that does not tell, may be refused.
        assert not force_decimal and reasons == ["ambiguous_number"], (price_text[i], total_text[i], reasons)
        assert _reads_two_ways(price_text[i]) or _reads_two_ways(total_text[i])


@pytest.mark.parametrize("encoding", ["utf-8", "cp1252", "latin-1", "utf-16"])
def test_accented_labels_round_trip_in_every_encoding(db, tmp_path, encoding):
    names = ["Crème brûlée", "Pâté en croûte", "Bûche de Noël", "Größe Müller", "Ålborg señor"]
    if encoding != "latin-1":
        names += ["Cœur de bœuf — 5 €"]
    text = "doc_ref;order_date;customer_code;product_label;quantity;unit_price\r\n" + "".join(
        f"F{i};31/03/2024;C1;{n};1;1,5\r\n" for i, n in enumerate(names)
    )
    path = tmp_path / "labels.csv"
    path.write_bytes(text.encode(encoding))
    report = load_files(db, "sales", [path])
    assert report.loaded == len(names)
    assert [n for (n,) in rows(db, "select product_label from raw.sales_line order by source_row")] == names
