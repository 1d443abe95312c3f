"""reco.vocab says what the dbt seeds and macros say, in the same order."""

from __future__ import annotations

import csv
import re

from reco import vocab
from reco.dbt.runner import dbt_project_dir

SEEDS = dbt_project_dir() / "seeds"


def _seed(name: str, order: str) -> list[dict[str, str]]:
    with (SEEDS / f"{name}.csv").open(encoding="utf-8", newline="") as f:
        rows = list(csv.DictReader(f))
    return sorted(rows, key=lambda row: int(row[order]))


def _column(name: str, column: str, order: str) -> tuple[str, ...]:
    return tuple(row[column] for row in _seed(name, order))


def test_aroma_axes_are_the_seed_and_the_macro_in_their_order():
    rows = _seed("aroma_axes", "axis_order")
    assert tuple(row["axis"] for row in rows) == vocab.AROMA_AXES
    assert all(row["column_name"] == f"aroma_{row['axis']}" for row in rows)
    macro = (dbt_project_dir() / "macros" / "aroma_axes.sql").read_text()
    listed = re.search(r"return\(\[(.*?)\]\)", macro).group(1)
    assert tuple(re.findall(r"'([a-z_]+)'", listed)) == vocab.AROMA_AXES


def test_families_sugars_and_price_bands_are_their_seeds():
    assert _column("product_families", "family_crm", "family_order") == vocab.FAMILIES
    assert _column("sugar_levels", "sucrosite_niveau", "sugar_order") == vocab.SUGARS
    bands = _seed("price_bands", "band_order")
    assert tuple(row["price_band"] for row in bands) == vocab.PRICE_BANDS
    assert tuple(float(row["max_price_ttc"]) for row in bands[:-1]) == vocab.PRICE_BAND_EDGES
    assert [float(row["min_price_ttc"]) for row in bands[1:]] == list(vocab.PRICE_BAND_EDGES)
