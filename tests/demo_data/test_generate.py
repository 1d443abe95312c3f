"""The demo-data generator: deterministic, readable with its documented dialects, and holding
every behaviour the platform must cope with (see docs/demo-data.md)."""

from __future__ import annotations

import hashlib
import io
import json
from datetime import date, timedelta
from pathlib import Path

import numpy as np
import polars as pl
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from reco.cli.main import main
from reco.db.models import raw
from reco.demo_data import DEFAULT_END_DATE, Dialect, Manifest, ensure, generate
from reco.demo_data.vocab import SEASON_TAGS
from reco.errors import RecoError
from reco.vocab import AROMA_AXES, FAMILIES, PRICE_BAND_EDGES, PRICE_BANDS, SUGARS

LINEAGE = {"id", "batch_id", "source_file", "file_no", "source_row", "loaded_at"}
DERIVED_BY_LOADER = {"line_key", "line_type", "order_ts"}
MODELS = {
    "products": raw.RawProduct,
    "customers": raw.RawCustomer,
    "sales": raw.RawSalesLine,
    "aliases": raw.RawProductAlias,
    "contacts": raw.RawContact,
}
N = 3000
SEED = 7


def read(path: Path, dialect: Dialect) -> pl.DataFrame:
    """Read a file with nothing but its documented dialect (all columns as text)."""
    text = path.read_bytes().decode(dialect.encoding)
    return pl.read_csv(
        io.StringIO(text), separator=dialect.separator, infer_schema=False, missing_columns="raise"
    )


def num(col: str, dialect: Dialect) -> pl.Expr:
    expr = pl.col(col)
    if dialect.decimal == ",":
        expr = expr.str.replace(",", ".", literal=True)
    return expr.cast(pl.Float64)


@pytest.fixture(scope="module")
def demo(tmp_path_factory) -> Manifest:
    return generate(tmp_path_factory.mktemp("demo"), N, SEED)


@pytest.fixture(scope="module")
def frames(demo) -> dict[str, pl.DataFrame]:
    out: dict[str, pl.DataFrame] = {}
    for f in demo.files:
        out[f.name] = read(demo.out_dir / f.name, f.dialect).with_columns(file=pl.lit(f.name))
    return out


@pytest.fixture(scope="module")
def sales(demo, frames) -> pl.DataFrame:
    """Every sales line once (overlapping exports deduplicated), typed."""
    d = next(f.dialect for f in demo.files if f.entity == "sales")
    rows = pl.concat([frames[f.name] for f in demo.files if f.entity == "sales"])
    return (
        rows.drop("file")
        .unique(maintain_order=True)
        .with_columns(
            order_date=pl.col("order_date").str.to_date(d.date_format),
            quantity=num("quantity", d),
            unit_price=num("unit_price", d),
            amount_ht=num("amount_ht", d),
            amount_ttc=num("amount_ttc", d),
        )
    )


@pytest.fixture(scope="module")
def products(demo, frames) -> pl.DataFrame:
    return frames["products.csv"].with_columns(unit_price=pl.col("unit_price").cast(pl.Float64))


@pytest.fixture(scope="module")
def customers(demo) -> tuple[pl.DataFrame, pl.DataFrame]:
    older, latest = (read(demo.out_dir / f.name, f.dialect) for f in demo.files if f.entity == "customers")
    return older, latest


def sha256s(folder: Path) -> dict[str, str]:
    return {p.name: hashlib.sha256(p.read_bytes()).hexdigest() for p in sorted(folder.iterdir())}


# ---------------------------------------------------------------------------- determinism


def test_same_seed_gives_byte_identical_files(tmp_path):
    generate(tmp_path / "a", 400, 11)
    generate(tmp_path / "b", 400, 11)
    generate(tmp_path / "c", 400, 12)
    a, b, c = sha256s(tmp_path / "a"), sha256s(tmp_path / "b"), sha256s(tmp_path / "c")
    assert a == b
    assert a["sales_2024.csv"] != c["sales_2024.csv"]


# ---------------------------------------------------------------------------- files


def test_every_file_has_the_raw_table_columns_and_parses_with_its_documented_dialect(demo):
    entities = {f.entity for f in demo.files}
    assert entities == set(MODELS)
    for f in demo.files:
        table = MODELS[f.entity].__table__
        expected = [c.name for c in table.columns if c.name not in LINEAGE | DERIVED_BY_LOADER]
        frame = read(demo.out_dir / f.name, f.dialect)
        assert frame.columns == expected, f.name
        assert frame.height == f.rows > 0, f.name
        d = f.dialect
        for col in frame.columns:
            kind = table.columns[col].type.python_type.__name__
            values = frame[col].drop_nulls()
            if kind == "date" and col != "contact_date":
                values.str.to_date(d.date_format, strict=True)
            elif kind == "date" or kind == "datetime":
                values.str.to_datetime(d.datetime_format, strict=True)
            elif kind in ("Decimal", "float"):
                assert frame.select(num(col, d)).to_series().drop_nulls().len() == values.len()
            elif kind == "int":
                values.cast(pl.Int64, strict=True)
            elif kind == "bool":
                assert set(values.unique()) <= set(d.booleans.split("/")), (f.name, col)
    manifest = json.loads((demo.out_dir / "manifest.json").read_text(encoding="utf-8"))
    assert [m["name"] for m in manifest["files"]] == [f.name for f in demo.files]


def test_files_are_written_in_each_systems_own_encoding(demo):
    raw_bytes = {f.name: (demo.out_dir / f.name).read_bytes() for f in demo.files}
    assert raw_bytes["products.csv"].startswith(b"\xef\xbb\xbf")  # UTF-8 with BOM
    crm = [f for f in demo.files if f.entity == "customers"]
    assert all(f.dialect.encoding == "latin-1" for f in crm)
    crm_bytes = raw_bytes[crm[-1].name]
    assert "é".encode("latin-1") in crm_bytes and "é".encode() not in crm_bytes
    assert b";" in raw_bytes["sales_2024.csv"].splitlines()[1]
    assert (
        pl.Series(raw_bytes["sales_2024.csv"].decode().splitlines()[1:]).str.contains(r";-?\d+,\d{2};").all()
    )  # decimal comma


def test_ensure_reuses_matching_demo_data_and_regenerates_otherwise(tmp_path):
    first = ensure(tmp_path, 200, 5)
    stamp = (tmp_path / "sales_2024.csv").stat().st_mtime_ns
    again = ensure(tmp_path, 200, 5)
    assert again == Manifest.read(tmp_path) and again.files == first.files
    assert (tmp_path / "sales_2024.csv").stat().st_mtime_ns == stamp
    other = ensure(tmp_path, 200, 6)
    assert other.seed == 6 and Manifest.read(tmp_path).seed == 6


@settings(max_examples=12, deadline=None)
@given(customers=st.integers(1, 60), seed=st.integers(0, 2**32 - 1))
def test_any_small_size_and_seed_gives_consistent_files(tmp_path_factory, customers, seed):
    out = tmp_path_factory.mktemp("small")
    manifest = generate(out, customers, seed, products=60)
    assert manifest.customers == customers
    latest = read(out / f"customers_{DEFAULT_END_DATE.year}.csv", manifest.files[2].dialect)
    assert latest.height == customers
    codes = set(latest["customer_code"])
    for f in manifest.files:
        frame = read(out / f.name, f.dialect)
        assert frame.height == f.rows
        if "customer_code" in frame.columns:
            assert set(frame["customer_code"]) <= codes, f.name


def test_tiny_sizes_do_not_crash(tmp_path):
    for n in (1, 2, 5, 20):
        manifest = generate(tmp_path / str(n), n, 1)
        assert manifest.rows("products") == 300
        assert manifest.customers == n
        assert all((tmp_path / str(n) / f.name).exists() for f in manifest.files)


def test_bad_arguments_are_user_errors(tmp_path):
    with pytest.raises(RecoError, match="--customers"):
        generate(tmp_path, 0, 1)
    with pytest.raises(RecoError, match="--products"):
        generate(tmp_path, 10, 1, products=10)


def test_cli_writes_the_files_and_prints_a_table(tmp_path, capsys):
    assert main(["demo-data", "--customers", "50", "--seed", "3", str(tmp_path / "out")]) == 0
    out = capsys.readouterr().out
    assert "products.csv" in out and "contacts.csv" in out
    assert (tmp_path / "out" / "customers_2026.csv").exists()
    # refused by the command line (a usage error naming the option), before anything is written
    assert main(["demo-data", "--customers", "0", str(tmp_path / "bad")]) == 2
    assert "Invalid value for '--customers'" in capsys.readouterr().err
    assert not (tmp_path / "bad").exists()


# ---------------------------------------------------------------------------- catalogue


def test_catalogue_has_consistent_wine_attributes(products):
    assert set(products["family_crm"]) == set(FAMILIES)
    assert set(products["sucrosite_niveau"]) <= set(SUGARS)
    assert products["product_key"].is_unique().all() and products["product_label"].is_unique().all()
    band = pl.Series(PRICE_BANDS).gather(np.digitize(products["unit_price"].to_numpy(), PRICE_BAND_EDGES))
    assert (band == products["price_band"]).all()
    for axis in AROMA_AXES:
        assert products[f"aroma_{axis}"].cast(pl.Int64).is_between(1, 5).all()
    # consistent with the family: sweet wines are fruitier than dry reds, bubbles more toasty
    means = products.group_by("family_crm").agg(pl.col("aroma_fruity", "aroma_toasty").cast(pl.Int64).mean())
    m = {r["family_crm"]: r for r in means.iter_rows(named=True)}
    assert m["Sweet"]["aroma_fruity"] > m["Red"]["aroma_fruity"]
    assert m["Sparkling"]["aroma_toasty"] > m["White"]["aroma_toasty"]


def test_catalogue_has_tiers_some_left_empty_season_tags_and_inactive_products(products):
    tiers = products["premium_tier"]
    assert set(tiers.drop_nulls().cast(pl.Int64)) == {0, 1, 2, 3}
    assert 0 < tiers.null_count() < 0.4 * products.height
    parsed = [json.loads(t) for t in products["season_tags"]]
    assert all(isinstance(t, list) and set(t) <= set(SEASON_TAGS) for t in parsed)
    assert {t for ts in parsed for t in ts} == set(SEASON_TAGS)
    inactive = products.filter(pl.col("is_active") == "false").height
    assert 0 < inactive < 0.3 * products.height


def test_default_catalogue_grows_with_the_customer_base():
    from reco.demo_data.catalogue import default_product_count

    assert default_product_count(20) == 300
    assert default_product_count(100_000) > 1000
    assert default_product_count(1_000_000) == 2000


# ---------------------------------------------------------------------------- customers


def test_duplicates_share_an_email_under_two_codes(customers):
    _, latest = customers
    dup = (
        latest.filter(pl.col("email").is_not_null())
        .group_by(pl.col("email").str.to_lowercase())
        .agg(pl.col("customer_code").n_unique().alias("codes"))
        .filter(pl.col("codes") > 1)
    )
    assert dup.height >= 0.01 * N
    assert latest["customer_code"].is_unique().all()


def test_the_same_code_appears_in_both_crm_exports_with_changes(customers):
    older, latest = customers
    both = older.join(latest, on="customer_code", suffix="_new")
    assert both.height == older.height  # every code of the older export is still there
    assert latest.height == N > older.height  # and new customers arrived since
    assert both.filter(pl.col("email") != pl.col("email_new")).height > 0
    assert both.filter(pl.col("email").is_null() & pl.col("email_new").is_not_null()).height > 0
    assert both.filter((pl.col("is_optout") == "0") & (pl.col("is_optout_new") == "1")).height > 0
    assert both.filter(pl.col("last_name") != pl.col("last_name_new")).height > 0


def test_missing_emails_bounces_and_optouts_drive_the_contactable_flag(customers):
    _, latest = customers
    n = latest.height
    missing = latest["email"].null_count()
    bounced = latest.filter(pl.col("is_bounced") == "1").height
    optout = latest.filter(pl.col("is_optout") == "1").height
    assert 0.03 * n < missing < 0.15 * n
    assert 0.005 * n < bounced < 0.1 * n
    assert 0.03 * n < optout < 0.15 * n
    assert latest.filter(pl.col("email").is_null() & (pl.col("is_contactable") == "1")).height == 0
    assert latest.filter((pl.col("is_bounced") == "1") & (pl.col("is_contactable") == "1")).height == 0
    ok = latest.filter(
        pl.col("email").is_not_null() & (pl.col("is_bounced") == "0") & (pl.col("is_optout") == "0")
    )
    assert (ok["is_contactable"] == "1").all()
    # The documented CRM lag: a recent opt-out may still say contactable, an old one never.
    stale = latest.filter((pl.col("is_optout") == "1") & (pl.col("is_contactable") == "1"))
    updated = stale["updated_at"].str.to_datetime("%d/%m/%Y %H:%M:%S").dt.date()
    assert (updated > DEFAULT_END_DATE - timedelta(days=30)).all()


# ---------------------------------------------------------------------------- sales


def test_sales_cover_at_least_three_years_ending_at_the_reference_date(sales):
    first, last = sales["order_date"].min(), sales["order_date"].max()
    assert first <= date(DEFAULT_END_DATE.year - 3, 1, 31)
    assert DEFAULT_END_DATE - timedelta(days=7) <= last <= DEFAULT_END_DATE


def test_consecutive_yearly_exports_overlap_with_identical_lines(demo, frames):
    exports = [f.name for f in demo.files if f.entity == "sales"]
    d = next(f.dialect for f in demo.files if f.entity == "sales")
    for older, newer in zip(exports, exports[1:], strict=False):
        year = int(newer.removesuffix(".csv").split("_")[1])
        spill = frames[older].filter(pl.col("order_date").str.to_date(d.date_format) >= date(year, 1, 1))
        assert spill.height > 0
        assert spill["order_date"].str.to_date(d.date_format).max() < date(year, 1, 10)
        same = spill.drop("file").join(
            frames[newer].drop("file"), on=spill.drop("file").columns, how="semi", nulls_equal=True
        )
        assert same.height == spill.height


def test_returns_and_cancelled_invoices_are_present_and_documented_by_doc_ref(sales):
    returns = sales.filter((pl.col("quantity") < 0) & ~pl.col("doc_ref").str.starts_with("AV-"))
    credit = sales.filter(pl.col("doc_ref").str.starts_with("AV-"))
    assert returns.height > 0 and credit.height > 0
    assert (credit["quantity"] < 0).all() and (credit["amount_ht"] < 0).all()
    # every credit note reverses the lines of the invoice it names
    original = credit.with_columns(doc_ref=pl.col("doc_ref").str.strip_prefix("AV-")).join(
        sales, on=["doc_ref", "product_label", "customer_code"], suffix="_orig"
    )
    assert original.height == credit.height
    assert (original["quantity"] == -original["quantity_orig"]).all()
    assert (original["amount_ht"] == -original["amount_ht_orig"]).all()


def test_doc_ref_and_label_identify_a_line(sales):
    assert sales.select(pl.struct("doc_ref", "product_label").is_unique().all()).item()


def test_every_sale_belongs_to_a_known_customer_signed_up_by_then(sales, customers):
    _, latest = customers
    signup = latest.select("customer_code", signup=pl.col("signup_date").str.to_date("%d/%m/%Y"))
    joined = sales.join(signup, on="customer_code", how="left")
    assert joined["signup"].null_count() == 0
    assert (joined["order_date"] >= joined["signup"]).all()


def test_amounts_are_quantity_times_price_plus_vat(sales):
    err_ht = (sales["quantity"] * sales["unit_price"] - sales["amount_ht"]).abs().max()
    err_ttc = (sales["amount_ht"] * 1.2 - sales["amount_ttc"]).abs().max()
    assert err_ht < 0.006 and err_ttc < 0.006


def test_product_key_is_empty_on_a_realistic_share_of_lines(sales):
    share = sales["product_key"].null_count() / sales.height
    assert 0.1 < share < 0.4


def test_invoice_labels_vary_for_the_same_product(sales, products):
    keyed = sales.filter(pl.col("product_key").is_not_null()).join(
        products.select("product_key", canonical="product_label"), on="product_key"
    )
    labels = keyed.group_by("product_key").agg(pl.col("product_label").n_unique())
    assert labels["product_label"].mean() > 3
    other = keyed.filter(pl.col("product_label") != pl.col("canonical"))
    assert other.height > 0.2 * keyed.height
    lab = other["product_label"]
    assert lab.str.contains(r"(?i)75 ?cl|0[,.]75l").any()  # volume suffix
    assert (lab == lab.str.to_uppercase()).any()  # upper case
    assert (lab.str.contains("Chateau|CHATEAU") & ~lab.str.contains("Château")).any()  # accents
    vintage = other.with_columns(
        y1=pl.col("product_label").str.extract(r" (\d{4})$").cast(pl.Int64),
        y0=pl.col("canonical").str.extract(r" (\d{4})$").cast(pl.Int64),
    )
    assert vintage.filter((pl.col("y1") - pl.col("y0")).abs() == 1).height > 0  # vintage year
    assert (
        other.filter(
            (pl.col("product_label").str.len_chars() - pl.col("canonical").str.len_chars()).abs()
            <= 1
            & (pl.col("product_label").str.to_lowercase() != pl.col("canonical").str.to_lowercase())
            & pl.col("product_label").str.contains("[éèêâôûîç]")
        ).height
        > 0
    )  # small typos, accents kept


def test_christmas_peak(sales):
    per_month = (
        sales.filter(pl.col("quantity") > 0).group_by(pl.col("order_date").dt.month().alias("m")).len()
    )
    december = per_month.filter(pl.col("m") == 12)["len"][0]
    others = per_month.filter(pl.col("m") != 12)["len"].mean()
    assert december > 1.8 * others


def test_customers_rebuy_favourites_drift_to_premium_lapse_and_arrive(sales, products):
    buys = sales.filter((pl.col("quantity") > 0) & pl.col("product_key").is_not_null())
    per_product = buys.group_by("customer_code", "product_key").agg(pl.col("doc_ref").n_unique())
    rebuyers = per_product.filter(pl.col("doc_ref") >= 3)["customer_code"].n_unique()
    buyers = buys["customer_code"].n_unique()
    assert rebuyers > 0.15 * buyers
    end = DEFAULT_END_DATE
    life = (
        sales.filter(pl.col("quantity") > 0)
        .group_by("customer_code")
        .agg(
            first=pl.col("order_date").min(),
            last=pl.col("order_date").max(),
            docs=pl.col("doc_ref").n_unique(),
        )
    )
    assert (
        life.filter((pl.col("docs") >= 3) & (pl.col("last") < end - timedelta(days=240))).height
        > 0.05 * buyers
    )
    assert life.filter(pl.col("first") > end - timedelta(days=300)).height > 0.05 * buyers
    assert life.filter(pl.col("docs") == 1).height > 0.1 * buyers
    # premium drift: some customers' late lines cost far more than their early ones
    priced = buys.join(products.select("product_key", "unit_price"), on="product_key", suffix="_cat").join(
        life, on="customer_code"
    )
    drift = (
        priced.filter(pl.col("docs") >= 6)
        .with_columns(late=pl.col("order_date") > pl.col("first") + (pl.col("last") - pl.col("first")) / 2)
        .group_by("customer_code")
        .agg(
            early=pl.col("unit_price_cat").filter(~pl.col("late")).mean(),
            late=pl.col("unit_price_cat").filter(pl.col("late")).mean(),
        )
    )
    assert drift.filter(pl.col("late") > 1.8 * pl.col("early")).height > 0.03 * drift.height


def test_explorers_buy_new_products_staple_buyers_rebuy_and_returners_come_back(sales):
    """The customer types each scenario is for (docs/demo-data.md, "Who buys what"): explorers,
    most of whose later purchases are products new to them; staple buyers, most of whose are
    re-purchases; returners, who pause for many times their usual gap and come back to a
    product they had bought before."""
    buys = (
        sales.filter((pl.col("quantity") > 0) & pl.col("product_key").is_not_null())
        .group_by("customer_code", "product_key", "doc_ref")
        .agg(pl.col("order_date").min())
    )
    first = buys.group_by("customer_code").agg(start=pl.col("order_date").min())
    novelty = (
        buys.join(first, on="customer_code")
        .with_columns(bought=pl.col("order_date").min().over("customer_code", "product_key"))
        .filter(pl.col("order_date") > pl.col("start"))
        .group_by("customer_code")
        .agg(pl.len(), rate=(pl.col("order_date") == pl.col("bought")).mean())
        .filter(pl.col("len") >= 8)
    )
    assert novelty.filter(pl.col("rate") >= 0.8).height > 0.25 * novelty.height  # explorers
    assert novelty.filter(pl.col("rate") <= 0.4).height > 0.3 * novelty.height  # staple buyers
    days = buys.select("customer_code", "order_date").unique().sort("customer_code", "order_date")
    gaps = days.with_columns(gap=pl.col("order_date").diff().dt.total_days().over("customer_code"))
    usual = gaps.group_by("customer_code").agg(median=pl.col("gap").median(), n=pl.col("gap").count())
    back = (
        gaps.join(usual.filter(pl.col("n") >= 4), on="customer_code")
        .filter(pl.col("gap") > 4 * pl.col("median"))
        .join(buys, on=["customer_code", "order_date"])
        .join(
            buys.select("customer_code", "product_key", before="order_date"),
            on=["customer_code", "product_key"],
        )
        .filter(pl.col("before") < pl.col("order_date"))
    )
    assert back["customer_code"].n_unique() > 0.08 * buys["customer_code"].n_unique()


def test_taste_signals_let_a_recommender_beat_popularity(sales):
    """The backtest protocol of ANCHORS.md in small: REPEAT beats POP overall, and an item-item
    co-purchase recommender beats POP on products the customer never bought."""
    events = sales.filter((pl.col("quantity") > 0) & pl.col("product_key").is_not_null()).select(
        "customer_code", "product_key", "doc_ref", "order_date"
    )
    cutoff = DEFAULT_END_DATE - timedelta(days=180)
    train = events.filter(pl.col("order_date") < cutoff)
    test = events.filter(pl.col("order_date") >= cutoff).select("customer_code", "product_key").unique()
    eligible = test.join(train.select("customer_code").unique(), on="customer_code", how="semi")
    pop = (
        train.filter(pl.col("order_date") >= cutoff - timedelta(days=90))
        .group_by("product_key")
        .agg(pl.col("customer_code").n_unique().alias("n"))
        .sort("n", "product_key", descending=[True, False])
    )
    top3 = pop.head(3)["product_key"]

    def hit_rate(reco: pl.DataFrame, truth: pl.DataFrame) -> float:
        hits = truth.join(reco, on=["customer_code", "product_key"], how="semi")
        return hits["customer_code"].n_unique() / truth["customer_code"].n_unique()

    customers = eligible.select("customer_code").unique()
    pop_reco = customers.join(pl.DataFrame({"product_key": top3}), how="cross")
    repeat = (
        train.group_by("customer_code", "product_key")
        .agg(pl.col("doc_ref").n_unique().alias("n"), pl.col("order_date").max().alias("last"))
        .sort("customer_code", "n", "last", descending=[False, True, True])
        .group_by("customer_code", maintain_order=True)
        .head(3)
    )
    assert hit_rate(repeat, eligible) > hit_rate(pop_reco, eligible) + 0.2

    owned = train.select("customer_code", "product_key").unique()
    new_truth = eligible.join(owned, on=["customer_code", "product_key"], how="anti")
    co = owned.join(owned, on="customer_code", suffix="_b").filter(
        pl.col("product_key") != pl.col("product_key_b")
    )
    pair = co.group_by("product_key", "product_key_b").len()
    scores = (
        owned.join(pair, on="product_key")
        .group_by("customer_code", pl.col("product_key_b").alias("cand"))
        .agg(pl.col("len").sum().alias("s"))
        .join(
            owned,
            left_on=["customer_code", "cand"],
            right_on=["customer_code", "product_key"],
            how="anti",
        )
        .join(pop.select("product_key", "n"), left_on="cand", right_on="product_key", how="left")
        .with_columns(score=pl.col("s") / (pl.col("n").fill_null(0) + 20))
        .sort("customer_code", "score", "cand", descending=[False, True, False])
        .group_by("customer_code", maintain_order=True)
        .head(3)
        .select("customer_code", product_key="cand")
    )
    pop_new = (
        owned.select("customer_code")
        .unique()
        .join(pop.head(40).select("product_key"), how="cross")
        .join(owned, on=["customer_code", "product_key"], how="anti")
        .join(pop.select("product_key", "n"), on="product_key")
        .sort("customer_code", "n", "product_key", descending=[False, True, False])
        .group_by("customer_code", maintain_order=True)
        .head(3)
        .select("customer_code", "product_key")
    )
    assert hit_rate(scores, new_truth) > 1.5 * hit_rate(pop_new, new_truth)


# ---------------------------------------------------------------------------- aliases, contacts


def test_aliases_map_hard_invoice_labels_to_catalogue_products(frames, sales, products):
    aliases = frames["aliases.csv"]
    assert aliases.height >= 5
    assert aliases.join(products, on="product_key", how="anti").height == 0
    assert aliases.join(sales, left_on="alias_label", right_on="product_label", how="anti").height == 0
    assert aliases.join(products, left_on="alias_label", right_on="product_label", how="semi").height == 0


def test_contact_history_spans_the_period_with_very_recent_campaigns(frames, customers):
    contacts = frames["contacts.csv"].with_columns(
        day=pl.col("contact_date").str.to_datetime("%Y-%m-%d %H:%M:%S").dt.date()
    )
    assert set(contacts["status"]) == {"sent", "opened", "clicked", "bounced"}
    assert set(contacts["channel"]) == {"email", "sms"}
    assert contacts["day"].min() < date(DEFAULT_END_DATE.year - 2, 1, 1)
    recent = contacts.filter(pl.col("day") > DEFAULT_END_DATE - timedelta(days=14))
    assert recent["customer_code"].n_unique() > 0.05 * N
    _, latest = customers
    assert contacts.join(latest, on="customer_code", how="anti").height == 0
    # the tool sends nothing to a bounced address after the bounce, and bounces match the CRM
    bounced = contacts.filter(pl.col("status") == "bounced").select("customer_code", bounce="day")
    later = (
        contacts.filter(pl.col("channel") == "email")
        .join(bounced, on="customer_code")
        .filter(pl.col("day") > pl.col("bounce"))
    )
    assert later.height == 0
    crm_bounced = set(latest.filter(pl.col("is_bounced") == "1")["customer_code"])
    assert set(bounced["customer_code"]) == crm_bounced
