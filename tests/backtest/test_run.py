"""The backtest run: evaluation on events with a platform's recommendations, the report,
and the results saved to (and the schemas dropped from) a real database."""

import json
from datetime import date

import polars as pl
import pytest
from sqlalchemy import text

from reco.backtest import report as rep
from reco.backtest import run
from reco.db.engine import connect
from tests.backtest.conftest import CUTOFF


@pytest.fixture
def platform() -> pl.DataFrame:
    return pl.DataFrame(
        {
            "customer_code": ["alice"] * 3 + ["bob"] * 3 + ["carol"] * 3,
            "scenario": ["REBUY"] * 3 + ["CROSS_SELL"] * 3 + ["WINBACK"] * 3,
            "rank": [1, 2, 3] * 3,
            "product_key": ["A", "B", "C", "E", "B", "C", "A", "C", "D"],
        }
    )


@pytest.fixture
def result(small_events, platform) -> run.CutoffResult:
    return run.evaluate_cutoff(small_events, CUTOFF, 90, platform, n_resamples=50)


def _v(table, method, metric, scope="overall"):
    return table.filter(method=method, metric=metric, scope=scope)["value"].item()


def test_platform_and_baselines_are_scored_on_the_same_eligible_customers(result):
    hits = result.table.filter(metric="hit", scope="overall")
    assert set(hits["method"]) == {"PLATFORM", "POP", "REPEAT", "TIFU-KNN", "SAR", "RANDOM"}
    assert set(hits["n_customers"]) == {2}  # alice and bob; carol bought nothing after
    assert result.n_eligible == 2 and result.n_scored == 3


def test_platform_hits_are_credited_per_scenario(result):
    # alice (REBUY) bought A again: hit; bob (CROSS_SELL) bought E, recommended first: hit
    assert _v(result.table, "PLATFORM", "hit", "REBUY") == 1.0
    assert _v(result.table, "PLATFORM", "new_item_hit", "CROSS_SELL") == 1.0
    assert _v(result.table, "REPEAT", "hit", "REBUY") == 1.0


def test_eligible_customers_without_recommendations_count_as_misses(small_events, platform):
    only_bob = platform.filter(pl.col("customer_code") == "bob")
    res = run.evaluate_cutoff(small_events, CUTOFF, 90, only_bob, n_resamples=20)
    assert _v(res.table, "PLATFORM", "hit", run.UNSCORED) == 0.0
    assert _v(res.table, "PLATFORM", "hit") == 0.5


def test_contact_rules_leave_withheld_customers_out_of_every_method(small_events, platform):
    only_bob = platform.filter(pl.col("customer_code") == "bob")
    res = run.evaluate_cutoff(small_events, CUTOFF, 90, only_bob, restrict_to_scored=True, n_resamples=20)
    assert set(res.table.filter(metric="hit", scope="overall")["n_customers"]) == {1}


def _report(result) -> run.BacktestReport:
    report = run.BacktestReport("bt_test_0001", 90, False, [result], seconds=1.0)
    return report


def test_json_report_carries_every_metric_with_its_interval(result):
    data = json.loads(rep.to_json(_report(result)))
    rows = data["cutoffs"][0]["results"]
    assert data["cutoffs"][0]["cutoff"] == "2021-06-01"
    assert {"method", "scope", "metric", "value", "ci_low", "ci_high", "n_customers"} <= set(rows[0])
    assert {r["metric"] for r in rows} >= {"hit", "precision", "recall", "ndcg", "map", "coverage"}


def test_chart_is_written_as_png(result, tmp_path):
    path = rep.chart(_report(result), tmp_path / "bt.png")
    assert path.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"


def test_terminal_table_lists_every_scope_and_method(result):
    from rich.console import Console

    console = Console(width=250, record=True)
    console.print(rep.cutoff_table(result))
    out = console.export_text()
    for word in ("overall", "REBUY", "CROSS_SELL", "PLATFORM", "REPEAT", "SAR", "POP", "RANDOM"):
        assert word in out


def test_results_are_saved_so_runs_compare_over_time(db, result):
    report = _report(result)
    run._start(db, report.backtest_id, [CUTOFF], 90, False)
    run.save(db, report, None)
    with connect(db) as conn:
        status = conn.execute(text("select status from reco.backtest_run")).scalar_one()
        rows = conn.execute(
            text(
                "select method, scope, metric, value, n_customers, cutoff from reco.backtest_result"
                " where metric = 'hit' and scope = 'overall' order by method"
            )
        ).all()
    assert status == "succeeded"
    assert [r.method for r in rows] == ["PLATFORM", "POP", "RANDOM", "REPEAT", "SAR", "TIFU-KNN"]
    assert all(r.cutoff == date(2021, 6, 1) and r.n_customers == 2 for r in rows)


def test_only_the_backtest_own_schemas_are_dropped(db):
    with connect(db) as conn:
        for name in ("bt_x1_marts", "bt_x1_truth_marts", "marts", "bt_x2_marts"):
            conn.execute(text(f'create schema "{name}"'))
    dropped = run.drop_schemas(db, "bt_x1_")
    assert sorted(dropped) == ["bt_x1_marts", "bt_x1_truth_marts"]
    with connect(db) as conn:
        left = set(conn.execute(text("select nspname from pg_namespace")).scalars())
    assert {"marts", "bt_x2_marts"} <= left
    with pytest.raises(ValueError):
        run.drop_schemas(db, "mar")


def test_live_truth_is_not_used_when_the_live_marts_are_not_built(db):
    assert run.live_truth_covers(db, date(2021, 9, 1)) is False


def test_unknown_truth_source_is_a_user_error(db):
    from reco.errors import RecoError

    with pytest.raises(RecoError, match="--truth must be one of auto, live, rebuild"):
        run.run_backtest(db, [CUTOFF], 90, truth="guess")


def test_a_scenario_list_is_evaluated_on_every_eligible_customer_it_covers(small_events, platform):
    # REBUY's own list for everyone (alice, bob, carol): alice bought A again, bob did not rebuy
    lists = {
        "REBUY": pl.DataFrame(
            {
                "customer_code": ["alice"] * 3 + ["bob"] * 3 + ["carol"] * 3,
                "rank": [1, 2, 3] * 3,
                "product_key": ["A", "B", "C", "B", "C", "D", "A", "C", "D"],
            }
        )
    }
    res = run.evaluate_cutoff(small_events, CUTOFF, 90, platform, n_resamples=20, scenario_lists=lists)
    scope = run.LIST_SCOPE + "REBUY"
    listed = res.table.filter(scope=scope, metric="hit")
    assert set(listed["n_customers"]) == {2}  # carol is not eligible: she bought nothing after
    assert set(listed["method"]) == {"PLATFORM", "POP", "REPEAT", "TIFU-KNN", "SAR", "RANDOM"}
    assert _v(res.table, "PLATFORM", "hit", scope) == 0.5
    # the assigned scopes are unchanged by the lists
    assert _v(res.table, "PLATFORM", "hit") == _v(
        run.evaluate_cutoff(small_events, CUTOFF, 90, platform, n_resamples=20).table, "PLATFORM", "hit"
    )


def test_verdicts_hold_each_scenario_to_the_baseline_of_its_task(result, monkeypatch):
    verdicts = {v["comparison"]: v for v in rep.verdicts(result)}
    assert verdicts["overall"]["metric"] == "hit"
    assert verdicts["overall"]["baseline"] in {"POP", "REPEAT", "TIFU-KNN", "SAR", "RANDOM"}
    assert verdicts["REBUY"]["metric"] == "hit" and verdicts["REBUY"]["baseline"] in {"REPEAT", "TIFU-KNN"}
    assert (verdicts["CROSS_SELL"]["metric"], verdicts["CROSS_SELL"]["baseline"]) == ("new_item_hit", "SAR")
    for v in verdicts.values():  # two customers: too few to tell
        assert v["verdict"] == f"too few customers to tell (< {rep.MIN_CUSTOMERS})"
    monkeypatch.setattr(rep, "MIN_CUSTOMERS", 1)
    for v in rep.verdicts(result):
        better = v["platform"]["value"] > v["baseline_row"]["value"]
        assert v["verdict"].startswith("beats" if better else "does not beat")
    data = json.loads(rep.to_json(_report(result)))
    assert {v["comparison"] for v in data["cutoffs"][0]["verdicts"]} == set(verdicts)


def test_the_backtest_horizon_is_the_scoring_horizon(tmp_path):
    # --horizon-days drives the scorer's rhythm.horizon_days, over a configuration file's
    config = tmp_path / "reco.toml"
    config.write_text("[rhythm]\nhorizon_days = 90\nlapsed_cycles = 2.0\n")
    scoring = run.scoring_config(config, 28)
    assert scoring.rhythm.horizon_days == 28 and scoring.rhythm.lapsed_cycles == 2.0
    assert run.scoring_config(None, 45).rhythm.horizon_days == 45
