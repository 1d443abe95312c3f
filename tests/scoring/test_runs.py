"""run_scoring against a real server: what a run records, reruns, replace, all-or-nothing."""

from __future__ import annotations

import json

import polars as pl
import psycopg
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from reco.errors import RecoError
from reco.scoring import list_runs, read_inputs, run_audit, run_scoring, score, show_run
from reco.scoring.config import ScoringConfig
from tests.scoring.conftest import AS_OF
from tests.support.synthetic_marts import Shape, generate_marts, write_marts


def _sql(db, query, params=()):
    with psycopg.connect(db.conninfo(), autocommit=True) as conn:
        cur = conn.execute(query, params)
        return cur.fetchall() if cur.description else []


def _items(db, run_id) -> pl.DataFrame:
    rows = _sql(
        db,
        "select customer_code, scenario, rank, product_key, score, reasons_json::text "
        "from reco.reco_item where run_id = %s order by customer_code, rank",
        (run_id,),
    )
    return pl.DataFrame(
        rows,
        schema=["customer_code", "scenario", "rank", "product_key", "score", "reasons_json"],
        orient="row",
    )


def test_a_run_records_status_config_versions_fingerprint_and_counts(use_db, marts):
    summary = run_scoring(use_db, "r1", as_of=AS_OF)
    ((status, as_of, config, version, fp, counts, eligible, suppressed, error, finished),) = _sql(
        use_db,
        "select status, as_of, config_json, package_version, input_fingerprint, counts_json, "
        "n_eligible, n_suppressed, error, finished_at from reco.reco_run where run_id = 'r1'",
    )
    assert (status, as_of, error) == ("succeeded", AS_OF, None)
    assert finished is not None and version
    assert config == ScoringConfig().to_dict()
    assert fp["order_line"]["rows"] == marts["order_line"].filter(pl.col("order_date") < AS_OF).height
    assert fp["order_line"]["latest_order_date"] == str(marts["order_line"]["order_date"].max())
    assert fp["customer"]["rows"] == marts["customer"].height
    assert eligible + suppressed == marts["customer"].height
    assert counts["by_scenario"] == summary.counts["by_scenario"]
    assert sum(counts["by_scenario"].values()) == counts["recommended_customers"]
    assert _sql(use_db, "select count(*) from reco.reco_item where run_id = 'r1'")[0][0] == counts["items"]
    assert (
        _sql(
            use_db,
            "select count(*) from reco.audit_item where run_id = 'r1' and kind = 'suppressed'",
        )[0][0]
        == suppressed
    )


def test_stored_items_are_exactly_what_score_returns_for_the_same_inputs(use_db, marts):
    run_scoring(use_db, "r1", as_of=AS_OF)
    expected = score(read_inputs(use_db, as_of=AS_OF), ScoringConfig()).items
    stored = _items(use_db, "r1")
    assert stored.select(pl.exclude("reasons_json")).equals(
        expected.select(pl.exclude("reasons_json")).cast({"rank": pl.Int64})
    )
    assert [json.loads(r) for r in stored["reasons_json"]] == [
        json.loads(r) for r in expected["reasons_json"]
    ]


def test_same_id_after_success_is_refused_without_replace_and_replaced_with_it(use_db, marts):
    run_scoring(use_db, "r1", as_of=AS_OF)
    with pytest.raises(RecoError, match="already succeeded; pass --replace"):
        run_scoring(use_db, "r1", as_of=AS_OF)
    before = _items(use_db, "r1")
    summary = run_scoring(use_db, "r1", as_of=AS_OF, replace=True)
    assert summary.status == "succeeded"
    assert _items(use_db, "r1").equals(before)  # same inputs and config: identical output


def test_a_failed_run_records_its_error_and_the_same_id_then_succeeds(use_db):
    with pytest.raises(RecoError, match="scoring inputs missing"):
        run_scoring(use_db, "r1", as_of=AS_OF)
    ((status, error),) = _sql(use_db, "select status, error from reco.reco_run where run_id = 'r1'")
    assert status == "failed" and "marts.customer" in error
    write_marts(use_db, generate_marts(Shape(n_customers=50, n_products=10), seed=1, as_of=AS_OF))
    assert run_scoring(use_db, "r1", as_of=AS_OF).status == "succeeded"


def test_dry_run_writes_nothing(use_db, marts):
    summary = run_scoring(use_db, "dry", as_of=AS_OF, dry_run=True)
    assert summary.status == "dry-run" and summary.counts["items"] > 0
    assert _sql(use_db, "select count(*) from reco.reco_run")[0][0] == 0


@pytest.mark.parametrize("bad", ["", "has space", "-lead", "x" * 129, "semi;colon", "quote'"])
def test_bad_run_ids_are_refused(use_db, bad):
    with pytest.raises(RecoError, match="invalid run id"):
        run_scoring(use_db, bad)


def test_a_missing_run_id_is_generated(use_db, marts):
    summary = run_scoring(use_db, None, as_of=AS_OF)
    assert summary.run_id[:8].isdigit()
    assert list_runs(use_db)[0]["run_id"] == summary.run_id


def test_show_and_audit_summarise_scenarios_scores_and_suppressions(use_db, marts):
    summary = run_scoring(use_db, "r1", as_of=AS_OF)
    run = show_run(use_db, "r1")
    by_scenario = {r["scenario"]: r["customers"] for r in run["scenarios"]}
    assert by_scenario == {k: v for k, v in summary.counts["by_scenario"].items() if v}
    for r in run["scenarios"]:
        assert r["min"] <= r["p25"] <= r["median"] <= r["p75"] <= r["max"]
    assert {r["reason_code"]: r["customers"] for r in run["suppression_reasons"]} == summary.counts[
        "suppressed_by_reason"
    ]
    audit = run_audit(use_db, "r1", kind="suppressed", limit=5)
    assert len(audit["items"]) == 5 and {i["kind"] for i in audit["items"]} == {"suppressed"}
    with pytest.raises(RecoError, match="no run 'nope'"):
        show_run(use_db, "nope")


@settings(max_examples=5, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(
    shape=st.builds(
        Shape,
        n_customers=st.integers(1, 40),
        n_products=st.integers(1, 15),
        with_attributes=st.booleans(),
    ),
    seed=st.integers(0, 1000),
    fail=st.booleans(),
)
def test_a_run_is_all_or_nothing(use_db, shape, seed, fail):
    write_marts(use_db, generate_marts(shape, seed=seed, as_of=AS_OF))
    run_id = f"r{seed}-{fail}-{shape.n_customers}-{shape.n_products}"
    _sql(use_db, "drop trigger if exists boom on reco.audit_item")
    if fail:  # the very last insert of the write transaction fails
        _sql(
            use_db,
            "create or replace function reco.boom() returns trigger language plpgsql as "
            "$$ begin raise exception 'injected failure'; end $$",
        )
        _sql(
            use_db,
            "create trigger boom before insert on reco.audit_item for each statement "
            "execute function reco.boom()",
        )
        with pytest.raises(Exception, match="injected failure"):
            run_scoring(use_db, run_id, as_of=AS_OF, replace=True)
        assert _items(use_db, run_id).is_empty()
        assert _sql(use_db, "select count(*) from reco.audit_item where run_id = %s", (run_id,))[0][0] == 0
        assert _sql(use_db, "select status from reco.reco_run where run_id = %s", (run_id,))[0][0] == "failed"
        _sql(use_db, "drop trigger boom on reco.audit_item")
    summary = run_scoring(use_db, run_id, as_of=AS_OF, replace=True)
    assert _items(use_db, run_id).height == summary.counts["items"]


def test_measured_control_groups_move_incrementality_and_the_run_records_and_shows_it(use_db, marts, capsys):
    """reco.run_outcome rows of complete windows that ended before as_of give REBUY's
    posterior (n = the smaller group); a partial window and one ending after as_of are not
    read; the values and their source are in reco_run and in `reco runs show`."""
    from reco.cli.main import main

    rows = [
        (f"m{i}", "treatment" if i < 60 else "control", i % 60 < (30 if i < 60 else 10)) for i in range(100)
    ]
    with psycopg.connect(use_db.conninfo(), autocommit=True) as conn:
        for code, grp, bought in rows:
            for run, start, partial in (("old", "2025-09-01", False), ("partial", "2025-11-01", True)):
                conn.execute(
                    "insert into reco.run_outcome (run_id, customer_code, grp, scenario, segment, contacted,"
                    " window_start, window_days, is_partial, n_orders, revenue, bought_recommended,"
                    " bought_recommended_family) values (%s, %s, %s, 'REBUY', null, true, %s, 30, %s, 0, 0,"
                    " %s, false)",
                    (run, code, grp, start, partial, bought),
                )
        conn.execute(  # measured after as_of: never read by a run at as_of
            "insert into reco.run_outcome (run_id, customer_code, grp, scenario, contacted, window_start,"
            " window_days, is_partial, n_orders, revenue, bought_recommended, bought_recommended_family)"
            " values ('later', 'x', 'control', 'UPSELL', true, '2025-12-20', 30, false, 0, 0, true, false)"
        )
    run_scoring(use_db, "measured", as_of=AS_OF)
    ((counts,),) = _sql(use_db, "select counts_json from reco.reco_run where run_id = 'measured'")
    table = {r["scenario"]: r for r in counts["arbitration"]["incrementality"] if r["segment"] is None}
    # treated 30 / 60 = 0.5, control 10 / 40 = 0.25: measured 0.5, n = 40, prior 0.10
    assert table["REBUY"]["measured"] == 0.5 and table["REBUY"]["n_control"] == 40
    assert table["REBUY"]["source"] == "posterior (n=40)"
    assert table["REBUY"]["incrementality"] == pytest.approx(0.10 + 40 / 240 * 0.4, abs=1e-4)
    assert table["UPSELL"]["source"] == "prior"
    assert main(["runs", "show", "measured"]) == 0
    shown = capsys.readouterr().out
    assert "arbitration" in shown and "posterior" in shown and "0.167" in shown
