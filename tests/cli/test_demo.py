"""``reco demo`` end to end on a real server: generate, load, build the warehouse (dbt build with
its data and unit tests on the demo data)."""

import json
import re

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
    yield db, data_dir, {}
    mp.undo()
    _drop(pg_admin, db.url.database)


@pytest.fixture
def first_demo(capsys, demo_run):
    """The module's first ``reco demo``, run by whichever test asks first, so that no test
    depends on the order the tests run in."""
    db, data_dir, state = demo_run
    if "first" not in state:
        state["first"] = run_cli(capsys, "demo", "--customers", "400", "--data-dir", str(data_dir))
    return db, data_dir, state["first"]


def _one(db, sql):
    with psycopg.connect(db.conninfo()) as conn:
        return conn.execute(sql).fetchone()


def test_demo_loads_the_exports_and_builds_the_warehouse(first_demo):
    db, data_dir, result = first_demo
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
    # outside a terminal, every step prints a line as it starts and one as it ends ...
    steps = [line for line in result.err.splitlines() if line.startswith("[")]
    assert steps[:2] == ["[1/12] migrate (alembic upgrade head) …", steps[1]]
    assert steps[1].startswith("[1/12] migrate (alembic upgrade head): done in ")
    assert len(steps) == 24 and steps[-1].startswith("[12/12] measure the outcomes")
    # ... each load its files, bytes and rows, and dbt each node as it finishes, k/N and time
    chunk = r"^    sales: 0/1 files, [\d.]+ MB of [\d.]+ MB, [\d,]+ rows; landing sales_\d+\.csv: "
    chunk += r"[\d,]+ of [\d,]+ rows"
    assert re.search(chunk, result.err, re.M)
    assert re.search(r"^    sales: 1/1 files, [\d.]+ MB of [\d.]+ MB, [\d,]+ rows; landed", result.err, re.M)
    nodes = re.findall(r"^    (\d+)/(\d+) (\w+) (\S+) (\S+) [\d.]+s$", result.err, re.M)
    builds = {int(total) for _, total, *_ in nodes}
    assert len(builds) == 1  # the same project built twice (the demo, then the campaign)
    (total,) = builds
    assert sorted(int(k) for k, *_ in nodes) == sorted([*range(1, total + 1)] * 2)
    shown = {(kind, name, status) for *_, kind, name, status in nodes}
    assert {("model", "customer", "ok"), ("exposure", "reco_score", "no-op")} <= shown


def test_a_second_demo_loads_nothing_new(capsys, first_demo):
    db, data_dir, first = first_demo
    assert first.code == 0, first.err
    before = _one(db, "select count(*) from raw.sales_line")
    result = run_cli(capsys, "demo", "--customers", "400", "--data-dir", str(data_dir), "--json")
    assert result.code == 0, result.err
    assert _one(db, "select count(*) from raw.sales_line") == before
    # the campaign is not simulated twice: the first one is shown again
    assert _one(db, "select count(distinct run_id) from reco.run_outcome") == (1,)
    shown = json.loads(result.out)  # with --json, stdout is the JSON and nothing else
    assert {load["status"] for load in shown["loads"]} == {"duplicate"}
    assert shown["run"]["status"] == "succeeded" and shown["run"]["run_id"] != shown["campaign_run"]
    assert shown["campaign"]["run_id"] == shown["campaign_run"] == shown["truth"]["run_id"]
    # the glance in words: each sampled customer's scenario why, products by name with theirs
    sample = shown["sample"]
    assert sample and all(r["why"] and r["scenario_why"] and r["product_label"] for r in sample)
