"""A grocery chain's exports from ``reco load`` to ``reco score`` with no hand step: four months
of till lines with no receipt number (customer-day baskets derived by the mapping), thousands of
products in thousands of subclasses as ``family_crm``, no wine attribute, loyalty cards with
their consent flags (tests/ingest/corpus/grocery). Real server, the real CLI and dbt."""

from __future__ import annotations

import json
from pathlib import Path

import psycopg
import pytest

from reco.dbt.runner import run_dbt
from tests.cli.helpers import run_cli

GROCERY = Path(__file__).parents[1] / "ingest" / "corpus" / "grocery"
AS_OF = "2026-10-01"


def _rows(db, sql: str) -> list[tuple]:
    with psycopg.connect(db.conninfo()) as conn:
        return conn.execute(sql).fetchall()


@pytest.fixture(scope="module")
def grocery(pg_admin, migrated_template, tmp_path_factory):
    """A database selected for the CLI and dbt, with dbt's artefacts in a temporary folder."""
    from _pytest.monkeypatch import MonkeyPatch

    from tests.conftest import _drop, _fresh

    db = _fresh(pg_admin, "reco_grocery", template=migrated_template)
    target = tmp_path_factory.mktemp("dbt-target")
    mp = MonkeyPatch()
    mp.setenv("DATABASE_URL", db.conninfo())
    mp.setenv("DBT_TARGET_PATH", str(target))
    yield db, target
    mp.undo()
    _drop(pg_admin, db.url.database)


@pytest.fixture(scope="module")
def loaded(grocery):
    """The three exports, loaded through the CLI with the corpus's mappings."""
    from reco.cli.main import main

    db, _ = grocery
    for entity, name in (("sales", "sales"), ("products", "products"), ("customers", "customers")):
        code = main(
            ["load", entity, str(GROCERY / f"{name}.csv"), "--mapping", str(GROCERY / f"{name}.toml")]
        )
        assert code == 0, entity
    return grocery


@pytest.fixture(scope="module")
def built(loaded):
    """``dbt build`` (the function ``reco dbt`` calls), its output kept."""
    db, target = loaded
    proc = run_dbt(db, ["build", "--threads", "4"], capture=True)
    results = json.loads((target / "run_results.json").read_text())["results"]
    return db, proc.stdout, {r["unique_id"]: r["status"] for r in results}


def test_the_exports_load_with_one_basket_per_customer_and_day(loaded):
    db, _ = loaded
    batches = {
        entity: (read, loaded_, rejected, dups, options)
        for entity, read, loaded_, rejected, dups, options in _rows(
            db,
            "select entity, rows_read, rows_loaded, rows_rejected, rows_duplicate, options"
            " from raw.load_batch where status = 'succeeded'",
        )
    }
    assert set(batches) == {"sales", "products", "customers"}
    read, n_loaded, rejected, dups, options = batches["sales"]
    assert read == 4053 and (n_loaded, rejected, dups) == (read, 0, 0)
    assert options["derived"]["doc_ref"]["basket"] == "customer_day"
    [(baskets, customer_days, weighed, returns)] = _rows(
        db,
        "select count(distinct doc_ref), count(distinct (customer_code, order_date)),"
        " count(*) filter (where quantity <> trunc(quantity)),"
        " count(*) filter (where line_type = 'return') from raw.sales_line",
    )
    assert baskets == customer_days > 1000
    assert weighed > 0 and returns > 0
    [(products, subclasses)] = _rows(db, "select count(*), count(distinct family_crm) from raw.product")
    assert products == 2600 and subclasses == 2000


def test_reloading_the_sales_export_loads_nothing_new(loaded, capsys):
    db, _ = loaded
    sales, mapping = str(GROCERY / "sales.csv"), str(GROCERY / "sales.toml")
    result = run_cli(capsys, "load", "sales", sales, "--mapping", mapping, "--reload")
    assert result.code == 0, result.err
    assert _rows(db, "select count(*) from raw.sales_line") == [(4053,)]


def test_dbt_build_passes_with_a_warning_for_the_grocery_families(built):
    db, stdout, status = built
    assert not [uid for uid, s in status.items() if s in ("fail", "error", "skipped")]
    warned = [uid for uid, s in status.items() if s == "warn"]
    assert any("relationships_product_family_crm" in uid for uid in warned), warned
    assert "WARN" in stdout
    [(profiles, with_family)] = _rows(
        db, "select count(*), count(top_family_1) from marts.client_master_profile"
    )
    assert profiles > 250 and with_family == profiles
    [(family,)] = _rows(db, "select top_family_1 from marts.client_master_profile limit 1")
    assert family[:4] in {"DAI-", "BAK-", "PRO-", "GRO-", "FRO-", "DRI-", "HYG-", "HOM-"}


def test_score_gives_every_eligible_customer_three_items_or_an_audited_fallback(built, capsys):
    db, _, _ = built
    result = run_cli(capsys, "score", "--run-id", "grocery", "--as-of", AS_OF, "--json")
    assert result.code == 0, result.err
    counts = json.loads(result.out)["counts"]
    assert counts["eligible"] > 200 and counts["items"] > 0
    items = dict(_rows(db, "select customer_code, count(*) from reco.reco_item group by 1"))
    audits = _rows(
        db, "select customer_code, kind, reason_code from reco.audit_item where customer_code is not null"
    )
    suppressed = {c for c, kind, _ in audits if kind == "suppressed"}
    short = {c for c, _, reason in audits if reason == "short_list"}
    profiles = {c for (c,) in _rows(db, "select customer_code from marts.client_master_profile")}
    assert len(items) == counts["recommended_customers"] > 200
    assert not suppressed & set(items)  # consent: nobody suppressed is recommended
    for customer in profiles - suppressed:
        assert items.get(customer) == 3 or customer in short, customer
    # the consent flags of the loyalty-card export were applied
    opted_out = {c for (c,) in _rows(db, "select customer_code from raw.customer where is_optout")}
    assert opted_out and opted_out & profiles <= suppressed
