"""``reco demo`` end to end on a real server: generate, load, build the warehouse (dbt build with
its data and unit tests on the demo data)."""

import psycopg
import pytest

from tests.cli.helpers import run_cli


@pytest.fixture(scope="module")
def demo_run(pg_admin, migrated_template, tmp_path_factory):
    """One demo run shared by the tests of this module (it is the slow part)."""
    from _pytest.monkeypatch import MonkeyPatch

    from tests.conftest import _drop, _fresh

    db = _fresh(pg_admin, "reco_demo", template=migrated_template)
    data_dir = tmp_path_factory.mktemp("demo-data")
    mp = MonkeyPatch()
    mp.setenv("DATABASE_URL", db.conninfo())
    yield db, data_dir, mp
    mp.undo()
    _drop(pg_admin, db.url.database)


def _one(db, sql):
    with psycopg.connect(db.conninfo()) as conn:
        return conn.execute(sql).fetchone()


def test_demo_loads_the_exports_and_builds_the_warehouse(capsys, demo_run):
    db, data_dir, _ = demo_run
    result = run_cli(capsys, "demo", "--customers", "400", "--data-dir", str(data_dir))
    assert result.code == 0, result.err
    assert "sales_2023.csv" in result.out
    assert (data_dir / "manifest.json").is_file()
    # every row of every batch is accounted for, and nothing was rejected in the demo exports
    read, loaded, rejected, dups = _one(
        db,
        "select sum(rows_read), sum(rows_loaded), sum(rows_rejected), sum(rows_duplicate)"
        " from raw.load_batch where status = 'succeeded'",
    )
    assert read == loaded + rejected + dups and rejected == 0 and dups > 0
    # the marts exist and are populated; duplicates across codes were merged
    n_customers, n_codes = _one(
        db, "select (select count(*) from marts.customer), (select count(*) from marts.customer_code_map)"
    )
    assert 0 < n_customers < n_codes
    (n_profiles,) = _one(db, "select count(*) from marts.client_master_profile")
    assert n_profiles > 0
    (n_aroma,) = _one(db, "select count(*) from marts.client_master_profile where aroma_confidence > 0")
    assert n_aroma > 0
    # the campaign loop ran once on the run: contacts, the simulated period, outcomes, the table
    (measured_runs, measured, contacted) = _one(
        db,
        "select count(distinct run_id), count(*), count(*) filter (where contacted) from reco.run_outcome",
    )
    assert measured_runs == 1 and 0 < contacted < measured
    assert (data_dir / "campaign" / "campaign_truth.json").is_file()
    assert "conversion rate: 30 days from" in result.out and "truth" in result.out
    # every recommendation says why in words, and the glance prints them
    (missing,) = _one(
        db,
        "select count(*) from reco.reco_item where coalesce(reasons_json ->> 'why', '') = ''"
        " or coalesce(reasons_json ->> 'scenario_why', '') = ''",
    )
    assert missing == 0 and "a glance" in result.out


def test_a_second_demo_loads_nothing_new(capsys, demo_run):
    db, data_dir, _ = demo_run
    before = _one(db, "select count(*) from raw.sales_line")
    result = run_cli(capsys, "demo", "--customers", "400", "--data-dir", str(data_dir))
    assert result.code == 0, result.err
    assert _one(db, "select count(*) from raw.sales_line") == before
    # the campaign is not simulated twice: the first one is shown again
    assert _one(db, "select count(distinct run_id) from reco.run_outcome") == (1,)
    assert "conversion rate: 30 days from" in result.out
