"""The campaign marts (dbt_project/models/marts/campaign): they build on a fresh database, show
a run's groups, contacts and outcomes, follow the project's conventions, and the scorer never
reads them.

Only the campaign marts and their parents are built (staging views over reco's own tables), on
a migrated database: two small dbt builds, no warehouse."""

from __future__ import annotations

import json
import os
import re
from pathlib import Path

import psycopg
import pytest
from warehouse_sample import by_key, query

import reco.scoring
from reco.db.target import Database
from reco.dbt.runner import run_dbt
from reco.vocab import SCENARIOS

CAMPAIGN_MARTS = ("campaign_customer", "campaign_performance", "campaign_purchase")
SELECT = ["--select", "+campaign_customer", "+campaign_performance", "+campaign_purchase"]

RUN_ROWS = """
insert into reco.reco_run (run_id, status, as_of, config_json) values ('R1', 'succeeded', '2026-11-01', '{}');
insert into reco.run_customer (run_id, customer_code, scenario, grp, export_status, segment) values
    ('R1', 'A', 'REBUY', 'treatment', 'exported', 'champions'),
    ('R1', 'B', 'REBUY', 'treatment', 'suppressed', 'champions'),
    ('R1', 'C', 'REBUY', 'control', null, 'hibernating'),
    ('R1', 'D', 'WINBACK', 'treatment', 'exported', null);
insert into reco.contact_event
    (customer_code, contact_date, channel, campaign_id, run_id, scenario, is_control) values
    ('A', '2026-11-02', 'email', 'NOV', 'R1', 'REBUY', false),
    ('C', '2026-11-02', 'email', 'NOV', 'R1', 'REBUY', true),
    ('D', '2026-11-02', 'email', 'NOV', 'R1', 'WINBACK', false),
    ('A', '2026-09-01', 'email', 'OLD', null, null, false);
insert into reco.run_outcome (run_id, customer_code, campaign_id, grp, scenario, segment, contacted,
    window_start, window_days, is_partial, n_orders, revenue, bought_recommended,
    bought_recommended_family, days_to_first_purchase) values
    ('R1', 'A', 'NOV', 'treatment', 'REBUY', 'champions', true, '2026-11-02', 30, false,
        2, 80.5, true, true, 3),
    ('R1', 'B', 'NOV', 'treatment', 'REBUY', 'champions', false, '2026-11-02', 30, false,
        0, 0, false, false, null),
    ('R1', 'C', 'NOV', 'control', 'REBUY', 'hibernating', false, '2026-11-02', 30, false,
        1, 20, false, true, 10);
insert into reco.outcome_event (run_id, campaign_id, customer_code, is_control, order_date, doc_ref,
    product_key, was_recommended, amount_ht) values
    ('R1', 'NOV', 'A', false, '2026-11-05', 'F1', 'P1', true, 60.5),
    ('R1', 'NOV', 'A', false, '2026-11-20', 'F2', 'P9', false, 20),
    ('R1', 'NOV', 'C', true, '2026-11-12', 'F3', 'P1', false, 20);
"""


@pytest.fixture(scope="module")
def empty_build(migrated_db) -> Database:
    """The campaign marts built (with their data and unit tests) on a fresh database."""
    run_dbt(migrated_db, ["build", *SELECT], capture=True)
    return migrated_db


@pytest.fixture(scope="module")
def built(empty_build) -> Database:
    """The same, after a run was scored, exported, recorded and measured (rows written by hand)."""
    with psycopg.connect(empty_build.conninfo()) as conn:
        conn.execute(RUN_ROWS)
    run_dbt(empty_build, ["build", "--exclude", "test_type:unit", *SELECT], capture=True)
    return empty_build


@pytest.fixture(scope="module")
def manifest(built) -> dict:
    return json.loads((Path(os.environ["DBT_TARGET_PATH"]) / "manifest.json").read_text(encoding="utf-8"))


def test_the_campaign_marts_build_empty_on_a_fresh_database(empty_build):
    for mart in CAMPAIGN_MARTS:
        assert query(empty_build, f"select count(*) as n from marts.{mart}") == [{"n": 0}]


def test_campaign_customer_shows_groups_contacts_and_outcomes(built):
    rows = by_key(query(built, "select * from marts.campaign_customer"), "customer_code")
    assert set(rows) == {"A", "B", "C", "D"}  # every scored customer, measured or not
    a, b, c, d = rows["A"], rows["B"], rows["C"], rows["D"]
    assert (a["grp"], a["contacted"], a["campaign_id"], str(a["contact_date"])) == (
        "treatment",
        True,
        "NOV",
        "2026-11-02",
    )
    assert (a["converted"], a["n_orders"], float(a["revenue"]), a["days_to_first_purchase"]) == (
        True,
        2,
        80.5,
        3,
    )
    assert str(a["as_of"]) == "2026-11-01" and a["segment"] == "champions" and a["window_days"] == 30
    # left out at export: treated, not contacted, measured with nothing bought
    assert (b["grp"], b["export_status"], b["contacted"], b["converted"]) == (
        "treatment",
        "suppressed",
        False,
        False,
    )
    # a control row is not a contact
    assert (c["grp"], c["contacted"], c["converted"], c["bought_recommended_family"]) == (
        "control",
        False,
        True,
        True,
    )
    # not measured yet: the outcome columns are null, not zero
    assert (d["contacted"], d["is_measured"], d["converted"], d["revenue"]) == (True, False, None, None)


def test_campaign_performance_compares_groups_per_run_and_scenario(built):
    rows = query(built, "select * from marts.campaign_performance order by scenario, grp desc")
    got = [
        (r["scenario"], r["grp"], r["customers"], r["contacted"], r["measured_customers"], r["conversions"])
        for r in rows
    ]
    assert got == [
        ("REBUY", "treatment", 2, 1, 2, 1),
        ("REBUY", "control", 1, 0, 1, 1),
        ("WINBACK", "treatment", 1, 1, 0, 0),
    ]
    treated = rows[0]
    assert (treated["conversion_rate"], treated["revenue_per_customer"], treated["recommended_rate"]) == (
        0.5,
        40.25,
        0.5,
    )
    assert rows[2]["conversion_rate"] is None  # nothing measured: no rate, not 0


def _node(manifest: dict, name: str) -> dict:
    (node,) = (n for n in manifest["nodes"].values() if n["resource_type"] == "model" and n["name"] == name)
    return node


def test_campaign_marts_follow_the_conventions(manifest):
    for mart in CAMPAIGN_MARTS:
        node = _node(manifest, mart)
        assert node["schema"] == "marts" and node["config"]["materialized"] == "table"
        assert node["config"]["contract"]["enforced"], mart
        assert re.search(r"One row per [^.]+\.$", node["description"].strip()), mart
        assert all(c["description"] and c["data_type"] for c in node["columns"].values()), mart
    for name in ("stg_reco__runs", "stg_reco__run_customers", "stg_reco__run_outcomes"):
        assert "One row per" in _node(manifest, name)["description"], name
    # the scenario vocabulary of dbt's tests is reco.vocab's, which the tables check
    scenario_tests = [
        t["test_metadata"]["kwargs"]["values"]
        for t in manifest["nodes"].values()
        if t["resource_type"] == "test"
        and t.get("test_metadata", {}).get("name") == "accepted_values"
        and t["test_metadata"]["kwargs"].get("column_name") == "scenario"
    ]
    assert scenario_tests and all(set(v) == set(SCENARIOS) for v in scenario_tests)
    unit_tests = [u["name"] for u in manifest["unit_tests"].values() if u["model"] == "campaign_performance"]
    assert unit_tests == ["campaign_rates_are_over_the_measured_customers"]


def test_the_exposures_describe_commands_that_exist(manifest):
    from typer.main import get_command

    from reco.cli.main import app

    cli = get_command(app)
    commands = set(cli.commands)  # type: ignore[attr-defined]
    commands |= {f"{g} {c}" for g, grp in cli.commands.items() for c in getattr(grp, "commands", {})}  # type: ignore[attr-defined]
    exposures = {e["name"]: e for e in manifest["exposures"].values()}
    for exposure in exposures.values():
        named = set(re.findall(r"`reco ([a-z-]+(?: [a-z]+)?)", exposure["description"]))
        assert named, exposure["name"]
        for command in named:
            assert command in commands or command.split()[0] in commands, (exposure["name"], command)
    assert {"reco_score", "campaign_export", "campaign_outcomes", "campaign_report"} <= set(exposures)


def test_the_scorer_never_reads_the_campaign_marts(manifest):
    depends = _depends(manifest, "reco_score")
    campaign = {n for n in manifest["nodes"] if n.split(".")[-1] in CAMPAIGN_MARTS}
    assert len(campaign) == len(CAMPAIGN_MARTS) and not depends & campaign
    # and its SQL does not name them (nor the staging views over reco's own tables)
    package = Path(reco.scoring.__file__).parent
    for path in sorted(package.rglob("*.py")):
        text = path.read_text(encoding="utf-8")
        for name in (*CAMPAIGN_MARTS, "stg_reco__"):
            assert name not in text, f"{path.name} names {name}"


def _depends(manifest: dict, exposure: str) -> set[str]:
    """Every node the exposure depends on, directly or upstream."""
    (node,) = (e for e in manifest["exposures"].values() if e["name"] == exposure)
    seen: set[str] = set()
    todo = list(node["depends_on"]["nodes"])
    while todo:
        uid = todo.pop()
        if uid in seen:
            continue
        seen.add(uid)
        todo += manifest["nodes"].get(uid, {}).get("depends_on", {}).get("nodes", [])
    return seen


def test_campaign_purchase_shows_each_line_of_the_outcome_windows(built):
    rows = query(built, "select * from marts.campaign_purchase order by order_date")
    assert [(r["customer_code"], r["grp"], r["scenario"], r["product_key"]) for r in rows] == [
        ("A", "treatment", "REBUY", "P1"),
        ("C", "control", "REBUY", "P1"),
        ("A", "treatment", "REBUY", "P9"),
    ]
    assert [r["was_recommended"] for r in rows] == [True, False, False]
    # the lines add up to what campaign_customer shows per customer
    a = [r for r in rows if r["customer_code"] == "A"]
    (revenue,) = [
        r["revenue"]
        for r in query(built, "select * from marts.campaign_customer")
        if r["customer_code"] == "A"
    ]
    assert sum(float(r["amount_ht"]) for r in a) == float(revenue) == 80.5
