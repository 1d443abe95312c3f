"""The campaign response model (reco/demo_data/campaign.py): its truth is exact, its draws
follow its probabilities, and the period after a recorded run is an ERP export `reco load`
takes, the same bytes for the same seed."""

from __future__ import annotations

import json

import numpy as np
import polars as pl
import pytest

from reco.campaign.contacts import record_contacts
from reco.campaign.export import export_run
from reco.cli.main import main
from reco.demo_data.campaign import (
    DEFAULT_LIFTS,
    POPULATION_COLUMNS,
    SALES_FILE,
    baseline_probability,
    draw,
    parse_lifts,
    respond,
    simulate_campaign,
    truth,
)
from reco.errors import RecoError
from reco.ingest import LoadOptions, load_files
from reco.vocab import SCENARIOS
from tests.campaign.conftest import scored, sql  # noqa: F401  (the fixtures)
from tests.scoring.conftest import (
    AS_OF,
    marts,  # noqa: F401
)


def population(n: int, *, scenario: str, grp: str, contacted: bool, orders: int = 2) -> pl.DataFrame:
    return pl.DataFrame(
        {
            "customer_code": [f"{scenario}-{grp}-{contacted}-{i:06d}" for i in range(n)],
            "scenario": scenario,
            "grp": grp,
            "segment": None,
            "contacted": contacted,
            "orders_last_year": orders,
            "base_amount": 60.0,
            "rec_amount": 25.0,
            "base_is_recommended": False,
        },
        schema=POPULATION_COLUMNS,
    )


def test_lifts_default_and_override_by_scenario():
    assert set(DEFAULT_LIFTS) == set(SCENARIOS)
    assert min(DEFAULT_LIFTS.values()) < 0 == DEFAULT_LIFTS["WINBACK"] < max(DEFAULT_LIFTS.values())
    assert parse_lifts("rebuy=0.1, NURTURE=-0.5") == {**DEFAULT_LIFTS, "REBUY": 0.1, "NURTURE": -0.5}
    for bad, said in (
        ("FOO=0.1", "SCENARIO=NUMBER"),
        ("REBUY=x", "a number"),
        ("REBUY=2", "between -1 and 1"),
    ):
        with pytest.raises(RecoError, match=said):
            parse_lifts(bad)


def test_the_truth_is_the_treatment_groups_mean_move_computed_from_the_probabilities():
    p0 = baseline_probability(pl.lit(2), 30)
    p0 = pl.select(p0).item()
    assert p0 == pytest.approx(1 - np.exp(-2.1 / 365 * 30))
    frame = pl.concat(
        [
            population(3, scenario="REBUY", grp="treatment", contacted=True),
            population(1, scenario="REBUY", grp="treatment", contacted=False),  # left out at export
            population(2, scenario="REBUY", grp="control", contacted=False),
            population(2, scenario="NURTURE", grp="treatment", contacted=True),
            population(1, scenario="NURTURE", grp="control", contacted=False),
            population(2, scenario="WINBACK", grp="treatment", contacted=True),
        ]
    )
    lifts = {**DEFAULT_LIFTS, "REBUY": 0.2, "NURTURE": -0.5, "WINBACK": 0.0}
    got = {r["scenario"]: r for r in truth(respond(frame.lazy(), lifts, 30).collect()).to_dicts()}
    rebuy, nurture, winback = got["REBUY"], got["NURTURE"], got["WINBACK"]
    assert (rebuy["n_treatment"], rebuy["n_control"], rebuy["contacted_share"]) == (4, 2, 0.75)
    # three of four treated move by L (1 - p0); the one not contacted does not move
    assert rebuy["conversion_abs_uplift"] == pytest.approx(0.75 * 0.2 * (1 - p0))
    assert rebuy["revenue_per_customer_abs_uplift"] == pytest.approx(0.75 * 0.2 * (1 - p0) * 25.0)
    assert rebuy["treatment_conversion"] - rebuy["control_conversion"] == pytest.approx(0.75 * 0.2 * (1 - p0))
    # negative: would-be buyers kept from buying, and the order they would have placed lost
    assert nurture["conversion_abs_uplift"] == pytest.approx(-0.5 * p0)
    assert nurture["revenue_per_customer_abs_uplift"] == pytest.approx(-0.5 * p0 * 60.0)
    assert winback["conversion_abs_uplift"] == 0 == winback["revenue_per_customer_abs_uplift"]


def test_a_customer_with_nothing_to_buy_never_buys_and_a_missing_price_gets_no_lift():
    frame = population(2, scenario="REBUY", grp="treatment", contacted=True).with_columns(
        base_amount=pl.Series([None, 60.0]), rec_amount=pl.Series([25.0, None])
    )
    got = respond(frame.lazy(), {"REBUY": 0.3}, 30).collect()
    assert got["p0"][0] == 0.0 and got["lift"].to_list() == [0.3, 0.0]
    assert got["delta_conversion"][1] == 0.0


@pytest.mark.parametrize("lift", [0.1, 0.0, -0.4])
def test_draws_follow_the_models_probabilities(lift):
    n = 40_000
    frame = pl.concat(
        [
            population(n, scenario="REBUY", grp="treatment", contacted=True, orders=3),
            population(n, scenario="REBUY", grp="control", contacted=False, orders=3),
        ]
    )
    responded = respond(frame.lazy(), {"REBUY": lift}, 30).collect()
    drawn = draw(responded, np.random.default_rng(3))
    by = {
        r["grp"]: r
        for r in drawn.group_by("grp").agg(pl.col("converted", "p_convert", "revenue").mean()).to_dicts()
    }
    for grp, row in by.items():
        se = np.sqrt(row["p_convert"] * (1 - row["p_convert"]) / n)
        assert abs(row["converted"] - row["p_convert"]) < 4 * se, grp
    # nobody but the contacted buys the campaign's extra product, and nobody buys twice
    assert not drawn.filter(pl.col("grp") == "control")["buys_recommended"].any()
    assert not (drawn["buys_baseline"] & drawn["buys_recommended"]).any()
    if lift == 0:
        assert drawn["buys_recommended"].sum() == 0


def _recorded_run(db, tmp_path) -> str:
    export_run(db, "r1", tmp_path / "r1.csv", as_of=AS_OF)
    record_contacts(db, "r1", sent_at=AS_OF)
    return "r1"


def test_the_period_after_a_run_is_an_erp_export_that_loads_with_its_truth(scored, tmp_path, capsys):  # noqa: F811
    run_id = _recorded_run(scored, tmp_path)
    lifts = parse_lifts("REBUY=0.3,CROSS_SELL=0,NURTURE=-0.5")
    a = simulate_campaign(scored, run_id, tmp_path / "a", lifts=lifts, days=30, seed=5)
    b = simulate_campaign(scored, run_id, tmp_path / "b", lifts=lifts, days=30, seed=5)
    # the command line, another seed
    args = ["demo-campaign", "--run-id", run_id, str(tmp_path / "c"), "--seed", "6", "--json"]
    assert main([*args, "--lift", "REBUY=0.3,CROSS_SELL=0,NURTURE=-0.5"]) == 0
    assert json.loads(capsys.readouterr().out)["seed"] == 6
    assert a.sales_path.read_bytes() == b.sales_path.read_bytes()
    assert a.truth_path.read_bytes() == b.truth_path.read_bytes()
    assert a.sales_path.read_bytes() != (tmp_path / "c" / SALES_FILE).read_bytes()
    assert a.sales_path.name == SALES_FILE and a.lines > 0

    facts = json.loads(a.truth_path.read_text(encoding="utf-8"))
    groups = dict(
        sql(
            scored,
            "select scenario, count(*) from reco.run_customer"
            " where run_id = %s and grp = 'treatment' group by 1",
            (run_id,),
        )
    )
    assert {s: v["n_treatment"] for s, v in facts["scenarios"].items()} == groups
    assert facts["lifts"] == lifts and facts["window_start"] == AS_OF.isoformat()
    for scenario, v in facts["scenarios"].items():
        lift = lifts[scenario]
        assert np.sign(v["conversion_abs_uplift"]) == np.sign(lift) or v["contacted_share"] == 0, scenario

    # an ordinary sales export: `reco load` with the demo's (default) settings takes every line
    report = load_files(scored, "sales", [a.sales_path], LoadOptions())
    loaded = sql(
        scored,
        "select count(*), min(order_date), max(order_date), count(distinct doc_ref), "
        "count(distinct customer_code) from raw.sales_line where batch_id = %s",
        (report.batch_id,),
    )[0]
    assert loaded[0] == a.lines == loaded[3] == loaded[4]  # one single-line invoice per buyer
    assert str(loaded[1]) >= AS_OF.isoformat() and (loaded[2] - AS_OF).days == 29  # reaches the last day
    # numbered after the sales already there
    (clash,) = sql(
        scored,
        "select count(*) from raw.sales_line s join marts.order_line o using (doc_ref) where s.batch_id = %s",
        (report.batch_id,),
    )[0]
    assert clash == 0


def test_a_run_without_recorded_contacts_is_refused(scored, tmp_path):  # noqa: F811
    with pytest.raises(RecoError, match="reco contacts record --run-id r1"):
        simulate_campaign(scored, "r1", tmp_path)
    with pytest.raises(RecoError, match="no run 'nope'"):
        simulate_campaign(scored, "nope", tmp_path)
