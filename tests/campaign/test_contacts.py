"""reco contacts record: exported and control customers, once; the next run's silence sees them."""

from __future__ import annotations

import psycopg
import pytest

from reco.campaign.contacts import record_contacts
from reco.campaign.export import export_run
from reco.cli.main import main
from reco.errors import RecoError
from reco.scoring import run_scoring
from tests.campaign.conftest import codes, sql
from tests.campaign.test_export import _opt_out
from tests.scoring.conftest import AS_OF


def _recorded(db, run_id: str) -> dict[str, tuple]:
    rows = sql(
        db,
        "select customer_code, contact_date, channel, campaign_id, scenario, is_control "
        "from reco.contact_event where run_id = %s",
        (run_id,),
    )
    return {r[0]: r[1:] for r in rows}


def _mirror_history(db) -> None:
    """On a dbt-built warehouse marts.contact_history is a view over the contact tables."""
    sql(
        db,
        "insert into marts.contact_history (customer_code, contact_date, channel, is_control) "
        "select customer_code, contact_date, channel, is_control from reco.contact_event "
        "where run_id is not null",
    )


def test_records_each_exported_customer_and_the_controls_once(scored, tmp_path, capsys):
    opted_out = sorted(codes(scored, "r1", "treatment"))[0]
    _opt_out(scored, opted_out)
    export_run(scored, "r1", tmp_path / "r1.csv", as_of=AS_OF)
    args = ["contacts", "record", "--run-id", "r1", "--sent-at", f"{AS_OF}T09:30:00", "--json"]
    assert main(args) == 0
    recorded = _recorded(scored, "r1")
    treated, control = codes(scored, "r1", "treatment"), codes(scored, "r1", "control")
    assert set(recorded) == (treated - {opted_out}) | control  # what the export exported, and controls
    assert {c for c, r in recorded.items() if r[4]} == control
    assert {r[:3] for r in recorded.values()} == {(AS_OF, "email", "r1")}
    scenarios = dict(sql(scored, "select customer_code, scenario from reco.run_customer where run_id = 'r1'"))
    assert all(r[3] == scenarios[c] for c, r in recorded.items())
    capsys.readouterr()
    # again: nothing added
    assert main(args) == 0
    assert f'"already_recorded": {len(recorded)}' in capsys.readouterr().out
    assert sql(scored, "select count(*) from reco.contact_event where run_id = 'r1'") == [(len(recorded),)]
    with pytest.raises(psycopg.errors.UniqueViolation):  # the index holds outside the command too
        sql(
            scored,
            "insert into reco.contact_event (customer_code, contact_date, channel, is_control, run_id) "
            "values (%s, %s, 'email', false, 'r1')",
            (next(iter(recorded)), AS_OF),
        )


def test_a_run_not_exported_or_not_succeeded_is_refused(scored):
    with pytest.raises(RecoError, match="has not been exported"):
        record_contacts(scored, "r1", sent_at=AS_OF)
    sql(scored, "insert into reco.reco_run (run_id, status, config_json) values ('bad', 'failed', '{}')")
    with pytest.raises(RecoError, match="did not succeed"):
        record_contacts(scored, "bad", sent_at=AS_OF)
    assert sql(scored, "select count(*) from reco.contact_event where run_id is not null") == [(0,)]


def test_the_next_run_is_silenced_by_the_treated_contacts_not_by_the_controls(scored, tmp_path):
    export_run(scored, "r1", tmp_path / "r1.csv", as_of=AS_OF)
    record_contacts(scored, "r1", sent_at=AS_OF)
    _mirror_history(scored)
    run_scoring(scored, "r2", as_of=AS_OF)
    silenced = {
        r[0]
        for r in sql(
            scored,
            "select customer_code from reco.audit_item "
            "where run_id = 'r2' and kind = 'suppressed' and reason_code = 'silence_window'",
        )
    }
    treated, control = codes(scored, "r1", "treatment"), codes(scored, "r1", "control")
    assert treated <= silenced
    assert not control & silenced
    assert control <= codes(scored, "r2", "treatment") | codes(scored, "r2", "control")
    # and a re-export of r1 after recording gives the same file: its own contacts do not count
    export_run(scored, "r1", tmp_path / "again.csv", as_of=AS_OF)
    assert (tmp_path / "again.csv").read_bytes() == (tmp_path / "r1.csv").read_bytes()
