"""The grocery-shaped generator: deterministic, the shape it promises, and loadable as it is
with the mappings it writes (real server, the real CLI)."""

from __future__ import annotations

import psycopg
import polars as pl
import pytest

from reco.demo_data import grocery
from tests.cli.helpers import run_cli


@pytest.fixture(scope="module")
def exports(tmp_path_factory):
    out = tmp_path_factory.mktemp("grocery")
    manifest = grocery.generate_grocery(out, households=300, products=800, seed=11)
    return out, manifest


def _sales(out) -> pl.DataFrame:
    return pl.read_csv(out / "sales.csv", separator=";", schema_overrides={"Card": pl.String, "Article": pl.String, "Qty": pl.String, "Net amount": pl.String}).with_columns(
        date=pl.col("Date").str.to_date("%d/%m/%Y"),
        qty=pl.col("Qty").str.replace(",", ".").cast(pl.Float64),
        net=pl.col("Net amount").str.replace(",", ".").cast(pl.Float64),
    )


def test_the_same_seed_writes_the_same_bytes(exports, tmp_path):
    out, _ = exports
    grocery.generate_grocery(tmp_path, households=300, products=800, seed=11)
    for name in ("sales.csv", "products.csv", "customers.csv", "sales.toml", "manifest.json"):
        assert (tmp_path / name).read_bytes() == (out / name).read_bytes(), name


def test_baskets_have_no_receipt_and_follow_a_weekly_rhythm(exports):
    out, manifest = exports
    sales = _sales(out)
    assert sales.columns == ["Date", "Store", "Card", "Article", "Qty", "Net amount", "date", "qty", "net"]
    baskets = sales.select("Card", "date").unique().sort("Card", "date")
    assert baskets.height == manifest.baskets
    gaps = baskets.with_columns(gap=pl.col("date").diff().over("Card").dt.total_days()).drop_nulls("gap")
    assert gaps["gap"].mode().to_list() == [7]
    span = (sales["date"].max() - sales["date"].min()).days + 1
    assert span == 7 * grocery.DEFAULT_WEEKS == 119


def test_products_on_promotion_sell_at_a_quarter_off(exports):
    out, _ = exports
    sales = _sales(out).filter(~pl.col("Qty").str.contains(","), pl.col("qty") > 0)
    unit = sales.with_columns(unit=(pl.col("net") / pl.col("qty")).round(2))
    prices = unit.group_by("Article").agg(pl.col("unit").min().alias("lo"), pl.col("unit").max().alias("hi"))
    discounted = prices.filter(pl.col("lo") < pl.col("hi"))
    assert discounted.height > 0
    ratio = (discounted["lo"] / discounted["hi"]).filter(discounted["hi"] > 2)
    assert ((ratio - (1 - grocery.PROMO_DISCOUNT)).abs() < 0.02).mean() > 0.9


def test_new_products_are_bought_again_after_they_are_tried(exports):
    out, _ = exports
    firsts = _sales(out).group_by("Card", "Article").agg(
        first=pl.col("date").min(), times=pl.col("date").n_unique()
    )
    late_first = firsts.filter(pl.col("first") >= pl.date(2026, 7, 15))
    assert late_first.height > 0 and (late_first["times"] > 1).mean() > 0.1


def test_the_exports_load_with_their_mappings_and_nothing_is_rejected(capsys, db, monkeypatch, exports):
    out, manifest = exports
    monkeypatch.setenv("DATABASE_URL", db.conninfo())
    for entity, name in grocery.LOAD_ORDER:
        stem = name.removesuffix(".csv")
        result = run_cli(capsys, "load", entity, str(out / name), "--mapping", str(out / f"{stem}.toml"))
        assert result.code == 0, result.err
    with psycopg.connect(db.conninfo()) as conn:
        rows = dict(
            conn.execute(
                "select entity, sum(rows_read) from raw.load_batch where status = 'succeeded'"
                " and rows_rejected = 0 group by entity"
            ).fetchall()
        )
        baskets = conn.execute("select count(distinct doc_ref) from raw.sales_line").fetchone()[0]
    assert rows == {"sales": manifest.sales_lines, "products": manifest.products, "customers": manifest.households}
    assert baskets == manifest.baskets
