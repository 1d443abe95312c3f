"""The control group drawn at scoring time: reproducible, stratified, written with the run."""

from __future__ import annotations

import json

import polars as pl
import psycopg
import pytest

from reco.cli.main import main
from reco.errors import RecoError
from reco.scoring import run_scoring
from reco.scoring.config import config_from_dict
from reco.scoring.control import assign_groups
from tests.scoring.conftest import AS_OF


def _sql(db, query, params=()):
    with psycopg.connect(db.conninfo(), autocommit=True) as conn:
        cur = conn.execute(query, params)
        return cur.fetchall() if cur.description else []


def _items(sizes: dict[str, int]) -> pl.DataFrame:
    """Three item rows per customer, ``sizes[scenario]`` customers per scenario."""
    rows = [
        (f"{scenario[:2]}{i:05d}", scenario, rank)
        for scenario, n in sizes.items()
        for i in range(n)
        for rank in (1, 2, 3)
    ]
    return pl.DataFrame(rows, schema=["customer_code", "scenario", "rank"], orient="row")


def _controls(groups: pl.DataFrame) -> set[str]:
    return set(groups.filter(pl.col("grp") == "control")["customer_code"])


def test_each_scenario_holds_out_round_half_up_of_its_customers():
    sizes = {"REBUY": 5, "WINBACK": 15, "NURTURE": 25, "UPSELL": 4, "CROSS_SELL": 1000}
    groups = assign_groups(_items(sizes), "run-a", 0.10)
    assert groups.height == sum(sizes.values())  # one row per customer, not per item
    got = dict(groups.filter(pl.col("grp") == "control").group_by("scenario").len().iter_rows())
    assert got == {"REBUY": 1, "WINBACK": 2, "NURTURE": 3, "CROSS_SELL": 100}  # UPSELL: 0.4 -> 0


def test_the_same_run_id_draws_the_same_controls_and_another_run_id_others():
    items = _items({"REBUY": 400, "NURTURE": 300})
    first = assign_groups(items, "run-a", 0.2)
    shuffled = items.sample(fraction=1.0, shuffle=True, seed=3)
    assert assign_groups(shuffled, "run-a", 0.2).equals(first)
    other = assign_groups(items, "run-b", 0.2)
    assert len(_controls(other)) == len(_controls(first)) == 140
    assert _controls(other) != _controls(first)
    # a draw, not a block of codes: both halves of the code range hold controls
    codes = sorted(_controls(first))
    assert any(c < "RE00200" for c in codes if c.startswith("RE")) and any(
        c >= "RE00200" for c in codes if c.startswith("RE")
    )


def test_a_run_writes_one_group_row_per_scored_customer_and_keeps_control_items(use_db, marts):
    summary = run_scoring(use_db, "g1", as_of=AS_OF)
    rows = _sql(use_db, "select customer_code, scenario, grp from reco.run_customer where run_id = 'g1'")
    stored = pl.DataFrame(rows, schema=["customer_code", "scenario", "grp"], orient="row")
    stored = stored.sort("customer_code")
    assert stored.equals(assign_groups(summary.result.items, "g1", 0.10))
    assert stored.height == summary.counts["recommended_customers"]
    controls = stored.filter(pl.col("grp") == "control")
    assert controls.height > 0
    n_items = _sql(
        use_db,
        "select count(*) from reco.reco_item i join reco.run_customer c using (run_id, customer_code) "
        "where run_id = 'g1' and c.grp = 'control'",
    )[0][0]
    assert n_items >= controls.height  # control customers keep their items
    by_scenario = dict(stored.group_by("scenario").len().iter_rows())
    for scenario, n in by_scenario.items():
        expected = int(n * 0.10 + 0.5 + 1e-9)
        assert controls.filter(pl.col("scenario") == scenario).height == expected
    assert summary.counts["groups"] == {
        s: {"treatment": n - int(n * 0.10 + 0.5 + 1e-9), "control": int(n * 0.10 + 0.5 + 1e-9)}
        for s, n in sorted(by_scenario.items())
    }


def test_control_share_0_turns_the_control_group_off(use_db, marts, tmp_path):
    config = tmp_path / "reco.toml"
    config.write_text("[campaign]\ncontrol_share = 0\n")
    run_scoring(use_db, "g0", as_of=AS_OF, config_path=config)
    assert _sql(use_db, "select distinct grp from reco.run_customer where run_id = 'g0'") == [("treatment",)]


@pytest.mark.parametrize("value", ["1", "-0.1", "true", "'10%'"])
def test_control_share_out_of_range_is_one_clear_error(value):
    import tomllib

    with pytest.raises(RecoError, match=r"\[campaign\] control_share"):
        config_from_dict(tomllib.loads(f"[campaign]\ncontrol_share = {value}\n"), "reco.toml")


def test_groups_are_written_with_the_items_or_not_at_all(use_db, marts, tmp_path):
    run_scoring(use_db, "g1", as_of=AS_OF)
    before = _sql(use_db, "select customer_code, grp from reco.run_customer where run_id = 'g1' order by 1")
    # a real failure of the last insert of the run's transaction: the replaced run loses nothing
    _sql(
        use_db,
        """create function reco.fail() returns trigger language plpgsql as
           $$ begin raise exception 'disk full'; end $$;
           create trigger fail before insert on reco.run_customer
           for each statement execute function reco.fail()""",
    )
    with pytest.raises(Exception, match="disk full"):
        run_scoring(use_db, "g1", as_of=AS_OF, replace=True)
    assert _sql(use_db, "select status from reco.reco_run where run_id = 'g1'") == [("failed",)]
    assert _sql(use_db, "select count(*) from reco.reco_item where run_id = 'g1'") == [(0,)]
    assert _sql(use_db, "select count(*) from reco.run_customer where run_id = 'g1'") == [(0,)]
    _sql(use_db, "drop trigger fail on reco.run_customer")
    # replaced again, with another share: the rows are the new run's only
    config = tmp_path / "reco.toml"
    config.write_text("[campaign]\ncontrol_share = 0.5\n")
    run_scoring(use_db, "g1", as_of=AS_OF, config_path=config, replace=True)
    after = _sql(use_db, "select customer_code, grp from reco.run_customer where run_id = 'g1' order by 1")
    assert len(after) == len(before)
    assert sum(g == "control" for _, g in after) > sum(g == "control" for _, g in before)


def test_runs_show_gives_group_sizes_per_scenario(use_db, marts, capsys):
    summary = run_scoring(use_db, "g1", as_of=AS_OF)
    assert main(["runs", "show", "g1", "--json"]) == 0
    shown = json.loads(capsys.readouterr().out)
    groups = {r["scenario"]: {"treatment": r["treatment"], "control": r["control"]} for r in shown["groups"]}
    assert groups == summary.counts["groups"]
    assert main(["runs", "show", "g1"]) == 0
    out = capsys.readouterr().out
    assert "treatment" in out and "held out" in out
