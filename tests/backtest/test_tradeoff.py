"""``reco backtest --tradeoff``: the curve between overall hit@3 and new-item hit@3 over REBUY's
incrementality prior, on a real PostgreSQL. The warehouse is the scorer's synthetic marts
(tests/support/synthetic_marts.py, with purchases on both sides of the cutoff) written into the
backtest's schemas in place of the dbt rebuild; the scorer reads them as of the cutoff."""

from __future__ import annotations

import json
from datetime import date, timedelta

import polars as pl
import pytest

from reco.backtest import report as rep
from reco.backtest import run, tradeoff
from reco.scoring import ScoringConfig
from tests.support.synthetic_marts import Shape, generate_marts, write_marts

CUTOFF = date(2026, 1, 1)
HORIZON = 90


@pytest.fixture(scope="module")
def marts():
    shape = Shape(n_customers=2500, n_products=150, years=2.0)
    return generate_marts(shape, seed=3, as_of=CUTOFF + timedelta(days=HORIZON))


@pytest.fixture
def report(db, marts, monkeypatch):
    def rebuild(db_, as_of, prefix, **_):
        write_marts(db_, marts, schema_prefix=prefix)

    monkeypatch.setattr(run, "rebuild", rebuild)
    return run.run_backtest(db, [CUTOFF], HORIZON, truth="rebuild", tradeoff=True, n_resamples=100)


def _points(curve: pl.DataFrame) -> pl.DataFrame:
    return curve.filter(pl.col("prior_rebuy").is_not_null()).sort("prior_rebuy")


def _customers(scenarios: str, name: str) -> int:
    for part in scenarios.split(" · "):
        scenario, n = part.rsplit(" ", 1)
        if scenario == name:
            return int(n.replace(",", ""))
    return 0


def test_the_curve_has_every_setting_with_the_default_among_them_and_the_baselines(report):
    curve = report.cutoffs[0].tradeoff
    points = _points(curve)
    assert points["prior_rebuy"].to_list() == list(tradeoff.PRIORS_REBUY)
    default = points.filter("default")
    assert default["prior_rebuy"].to_list() == [ScoringConfig().arbitration.prior_rebuy]
    baselines = set(curve.filter(pl.col("prior_rebuy").is_null())["method"])
    assert {"PLATFORM", "REPEAT", "TIFU-KNN", "SAR", "POP"} <= baselines
    # each point and baseline has both metrics with an interval around them
    for r in curve.iter_rows(named=True):
        assert r["hit_low"] <= r["hit"] <= r["hit_high"], r
        assert r["new_item_hit_low"] <= r["new_item_hit"] <= r["new_item_hit_high"], r
    # the guard's verdict is recorded with every point, though it is not applied
    assert points["guard"].is_not_null().all()


def test_a_lower_rebuy_prior_trades_re_orders_for_discovery(report):
    points = _points(report.cutoffs[0].tradeoff)
    rebuy = [_customers(s, "REBUY") for s in points["scenarios"]]
    # REBUY's customers never fall as its incrementality rises, and the ends differ
    assert rebuy == sorted(rebuy) and rebuy[0] < rebuy[-1]
    low, high = points.row(0, named=True), points.row(-1, named=True)
    discovery = [
        _customers(s, "CROSS_SELL") + _customers(s, "UPSELL") for s in (low["scenarios"], high["scenarios"])
    ]
    assert discovery[0] > discovery[1]
    assert low["new_item_hit"] > high["new_item_hit"]
    assert high["hit"] > low["hit"]


def test_the_curve_is_in_the_json_report_and_drawn_beside_the_chart(report, tmp_path):
    data = json.loads(rep.to_json(report))
    rows = data["cutoffs"][0]["tradeoff"]
    assert len(rows) == report.cutoffs[0].tradeoff.height
    assert {"method", "prior_rebuy", "hit", "hit_low", "new_item_hit", "guard", "scenarios"} <= set(rows[0])
    png = rep.tradeoff_chart(report, tmp_path / "curve.png")
    assert png.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    assert rep.tradeoff_table(report.cutoffs[0]).row_count == len(rows)


def test_without_the_option_there_is_no_curve(db, marts, monkeypatch):
    monkeypatch.setattr(
        run, "rebuild", lambda db_, as_of, prefix, **_: write_marts(db_, marts, schema_prefix=prefix)
    )
    plain = run.run_backtest(db, [CUTOFF], HORIZON, truth="rebuild", n_resamples=20)
    assert plain.cutoffs[0].tradeoff is None and rep.tradeoff_chart(plain, "unused.png") is None
    assert "tradeoff" not in plain.cutoffs[0].as_dict()


def test_with_the_guard_off_its_verdict_is_recorded_but_the_assignment_is_used(marts):
    # by the priority list, UPSELL first loses to the simple lists on the validation window
    # (tests/scoring/test_validation.py): guarded, the run gives everyone REPEAT or POP;
    # unguarded, as the curve's points and the scenario lists are scored, UPSELL keeps its
    # customers
    from dataclasses import replace

    from reco.backtest.evaluation import score_lists
    from reco.scoring import score
    from reco.scoring.config import config_from_dict
    from tests.support.synthetic_marts import as_inputs

    inputs = as_inputs(marts, CUTOFF)
    config = config_from_dict({"priority": ["UPSELL", "REBUY"], "arbitration": {"method": "priority"}})
    guarded = score(inputs, config, apply_contact_rules=False)
    unguarded = score(
        inputs, replace(config, validation=replace(config.validation, guard=False)), apply_contact_rules=False
    )
    assert guarded.counts["validation"]["assignment"]["choice"] in ("repeat", "pop")
    assert (
        unguarded.counts["validation"]["assignment"]["choice"]
        == guarded.counts["validation"]["assignment"]["choice"]
    )
    assert guarded.counts["by_scenario"]["UPSELL"] == 0
    assert unguarded.counts["by_scenario"]["UPSELL"] > 500
    # a scenario's own list is its own, not the guard's fallback
    assert score_lists(inputs, config, ["UPSELL"])["UPSELL"]["customer_code"].n_unique() > 500
