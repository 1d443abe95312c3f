"""A grocery chain's exports from ``reco load`` to ``reco score`` with no hand step: four months
of till lines with no receipt number (customer-day baskets derived by the mapping), thousands of
products in thousands of subclasses as ``family_crm``, no wine attribute, loyalty cards with
their consent flags (tests/ingest/corpus/grocery). Real server, the real CLI and dbt."""

from __future__ import annotations

import contextlib
import io
import json
import os
import subprocess
import sys
from pathlib import Path

import psycopg
import pytest
from psycopg.rows import dict_row

from reco.dbt.runner import PROJECT_ENV, dbt_env, dbt_project_dir, run_dbt
from tests.cli.helpers import run_cli

GROCERY = Path(__file__).parents[1] / "ingest" / "corpus" / "grocery"
AS_OF = "2026-10-01"


def _rows(db, sql: str, params: tuple = ()) -> list[tuple]:
    with psycopg.connect(db.conninfo()) as conn:
        return conn.execute(sql, params).fetchall()


def query_dicts(db, sql: str) -> list[dict]:
    with psycopg.connect(db.conninfo(), row_factory=dict_row) as conn:
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


@pytest.fixture(scope="module")
def scored(built) -> tuple:
    """Run ``grocery`` scored through the CLI (``reco score --json``): the database and the
    run's counts as printed."""
    from reco.cli.main import main

    db, _, _ = built
    printed = io.StringIO()
    with contextlib.redirect_stdout(printed):
        code = main(["score", "--run-id", "grocery", "--as-of", AS_OF, "--json"])
    assert code == 0, printed.getvalue()
    return db, json.loads(printed.getvalue())["counts"]


def test_score_gives_every_eligible_customer_three_items_or_an_audited_fallback(scored):
    db, counts = scored
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


#: Loyalty cards a till export got wrong: no card number, and a consent flag that is neither Y nor N.
BAD_CARDS = (
    "Card;Email;First name;Opt-in email;Bounced;Unsubscribed\n"
    ";nocard@example.com;No card;Y;N;N\n"
    "4909999999;odd@example.com;Odd;maybe;N;N\n"
)


def test_the_platform_marts_show_the_run_and_the_loads_as_reco_wrote_them(scored, capsys, tmp_path):
    """reco_recommendation, reco_run_summary, audit_summary and load_quality, rebuilt after the
    run and a load with rejects, say what reco's own tables say (docs/warehouse.md)."""
    db, counts = scored
    bad = tmp_path / "bad_cards.csv"
    bad.write_text(BAD_CARDS, encoding="utf-8")
    result = run_cli(capsys, "load", "customers", str(bad), "--mapping", str(GROCERY / "customers.toml"))
    assert result.code == 0, result.err
    marts = ["reco_recommendation", "reco_run_summary", "audit_summary", "load_quality"]
    run_dbt(db, ["build", "--select", *marts], capture=True)

    # one row per reco_item row of the run, with the product's name joined
    [(items, recs, unnamed, unreasoned)] = _rows(
        db,
        """select (select count(*) from reco.reco_item where run_id = 'grocery'),
                  count(*), count(*) filter (where r.product_label is distinct from p.product_label),
                  count(*) filter (where r.reason_source is null or r.score_components is null)
           from marts.reco_recommendation as r
           left join marts.product as p using (product_key)
           where r.run_id = 'grocery'""",
    )
    assert recs == items == counts["items"] > 0
    assert unnamed == 0 and unreasoned == 0
    [(named,)] = _rows(db, "select count(product_label) from marts.reco_recommendation")
    assert named == items  # every recommended product is in the catalogue here
    # the because-products are named too, where the reasons give one
    [(because, because_named)] = _rows(
        db,
        "select count(because_product_key_1), count(because_product_label_1) from marts.reco_recommendation",
    )
    assert because == because_named

    # the run in one row: counts from the rows it wrote agree with what `reco score` printed
    [summary] = query_dicts(db, "select * from marts.reco_run_summary where run_id = 'grocery'")
    assert summary["status"] == "succeeded" and str(summary["as_of"]) == AS_OF
    assert summary["recommendations"] == counts["items"]
    assert summary["recommended_customers"] == counts["recommended_customers"]
    assert summary["eligible_customers"] == counts["eligible"]
    assert summary["suppressed_customers"] == counts["suppressed"]
    by_scenario = {s: summary[f"customers_{s.lower()}"] for s in counts["by_scenario"]}
    assert by_scenario == counts["by_scenario"]
    [(treated, control)] = _rows(
        db,
        "select count(*) filter (where grp = 'treatment'), count(*) filter (where grp = 'control')"
        " from reco.run_customer where run_id = 'grocery'",
    )
    assert (summary["treatment_customers"], summary["control_customers"]) == (treated, control)
    assert control > 0
    assert summary["validation_why"]  # chosen, or why validation did not run

    # audit: the mart's counts are the audit table's, kind by kind and reason by reason
    audited = dict(
        ((k, r, s), n)
        for k, r, s, n in _rows(
            db,
            "select kind, reason_code, severity, count(*) from reco.audit_item"
            " where run_id = 'grocery' group by 1, 2, 3",
        )
    )
    summarised = dict(
        ((k, r, s), n)
        for k, r, s, n in _rows(
            db,
            "select kind, reason_code, severity, audit_items from marts.audit_summary"
            " where run_id = 'grocery'",
        )
    )
    assert summarised == audited and any(k == "suppressed" for k, _, _ in audited)

    # loads: one row per batch, the batch's counts, and the rejects by reason from raw.reject
    batches = {
        b: (read, loaded, rejected, dups)
        for b, read, loaded, rejected, dups in _rows(
            db, "select batch_id, rows_read, rows_loaded, rows_rejected, rows_duplicate from raw.load_batch"
        )
    }
    quality = {r["batch_id"]: r for r in query_dicts(db, "select * from marts.load_quality")}
    assert set(quality) == set(batches)
    for batch, (read, loaded, rejected, dups) in batches.items():
        row = quality[batch]
        assert (row["rows_read"], row["rows_loaded"], row["rows_rejected"], row["rows_duplicate"]) == (
            read,
            loaded,
            rejected,
            dups,
        )
    [bad_batch] = [r for r in quality.values() if r["rows_rejected"] > 0]
    assert bad_batch["entity"] == "customers" and bad_batch["rows_read"] == 2
    assert bad_batch["rejects_recorded"] == 2 and bad_batch["rows_unaccounted"] == 0
    reasons = dict(
        _rows(
            db,
            "select reason, count(*) from raw.reject, jsonb_array_elements_text(reason_codes) as reason"
            " where batch_id = %s group by 1",
            (bad_batch["batch_id"],),
        )
    )
    assert bad_batch["rejects_by_reason"] == reasons and len(reasons) == 2
    first_sales = min((r for r in quality.values() if r["entity"] == "sales"), key=lambda r: r["started_at"])
    assert (first_sales["rows_loaded"], first_sales["files"]) == (4053, 1) and first_sales["bytes"] > 0


def test_metricflow_validates_the_semantic_layer_against_the_built_warehouse(scored, grocery, tmp_path):
    """``mf validate-configs``: MetricFlow's semantic checks, then every semantic model,
    dimension, entity, measure and metric queried on the warehouse (the marts rebuilt after
    a run). mf reads ``target/semantic_manifest.json`` under the project, so it runs in a
    folder that links the project's files and this module's dbt target."""
    db, target = grocery
    project = tmp_path / "project"
    project.mkdir()
    for entry in dbt_project_dir().iterdir():
        if entry.name not in ("target", "logs"):
            (project / entry.name).symlink_to(entry)
    (project / "target").symlink_to(target)
    env = {k: v for k, v in os.environ.items() if k not in PROJECT_ENV}
    env.update(dbt_env(db), DBT_PROJECT_DIR=str(project), DBT_LOG_PATH=str(tmp_path / "logs"))
    mf = Path(sys.executable).with_name("mf")
    proc = subprocess.run(
        [str(mf), "validate-configs"], cwd=project, env=env, capture_output=True, text=True, timeout=300
    )
    out = proc.stdout + proc.stderr
    assert proc.returncode == 0, out
    assert out.count("Successfully validated") == 6, out  # semantics, then the 5 warehouse steps
    assert "against data warehouse (ERRORS: 0" in out
