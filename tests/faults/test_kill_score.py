"""``reco score`` processes killed with SIGKILL, and two processes scoring one run id, against
a real server (synthetic marts, no dbt). After a kill, the rerun of the same id is identical to
an uninterrupted run and recommends nobody it suppressed. To kill a process inside its write
transaction deterministically, the test holds a SHARE lock on reco.reco_item: the scorer then
waits inside its write transaction, with its items already ingested but uncommitted."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time

import psycopg
import pytest

from reco.scoring import list_runs, run_scoring
from reco.scoring.inputs import MARTS_READ
from reco.scoring.marts import export_parquet
from tests.scoring.conftest import AS_OF
from tests.support.synthetic_marts import Shape, generate_marts, write_marts


@pytest.fixture
def big_marts(use_db):
    write_marts(use_db, generate_marts(Shape(n_customers=800, n_products=80), seed=3, as_of=AS_OF))
    return use_db


@pytest.fixture(params=["postgres", "parquet"])
def read_from(request, big_marts, tmp_path) -> str | None:
    """``--marts`` of the killed runs and their reruns: PostgreSQL, or a Parquet export."""
    if request.param == "postgres":
        return None
    export_parquet(big_marts, tmp_path / "lake", list(MARTS_READ))
    return f"parquet:{tmp_path / 'lake'}"


def _score(db, run_id: str, marts: str | None = None) -> subprocess.Popen:
    env = {**os.environ, "DATABASE_URL": db.conninfo()}
    return subprocess.Popen(
        [sys.executable, "-m", "reco.cli.main", "score", "--run-id", run_id, "--as-of", str(AS_OF)]
        + (["--marts", marts] if marts else []),
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )


def _one(db, sql, params=()):
    with psycopg.connect(db.conninfo(), autocommit=True) as conn:
        return conn.execute(sql, params).fetchone()


def _wait_for(predicate, what: str, timeout: float = 60) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if predicate():
            return
        time.sleep(0.05)
    raise AssertionError(f"timed out waiting for {what}")


def _blocked_writing(db) -> bool:
    row = _one(
        db,
        "select count(*) from pg_stat_activity where datname = current_database() "
        "and wait_event_type = 'Lock' and query ilike '%%reco.reco_item%%'",
    )
    return row[0] > 0


def _status(db, run_id):
    row = _one(db, "select status, error from reco.reco_run where run_id = %s", (run_id,))
    return row and row[0]


def _items(db, run_id) -> int:
    return _one(db, "select count(*) from reco.reco_item where run_id = %s", (run_id,))[0]


def _audits(db, run_id) -> int:
    return _one(db, "select count(*) from reco.audit_item where run_id = %s", (run_id,))[0]


def _run_rows(db, run_id) -> tuple[list, list]:
    """A run's items and audits, without the run id."""
    with psycopg.connect(db.conninfo()) as conn:
        items = conn.execute(
            "select customer_code, scenario, rank, product_key, score, reasons_json::text"
            " from reco.reco_item where run_id = %s order by customer_code, rank",
            (run_id,),
        ).fetchall()
        audits = conn.execute(
            "select customer_code, kind, reason_code, product_key, details_json::text from reco.audit_item"
            " where run_id = %s order by customer_code nulls first, kind, reason_code, product_key",
            (run_id,),
        ).fetchall()
    return items, audits


def _suppressed_but_recommended(db, run_id) -> int:
    return _one(
        db,
        """select count(*) from reco.reco_item i join reco.audit_item a
           on a.run_id = i.run_id and a.customer_code = i.customer_code and a.kind = 'suppressed'
           where i.run_id = %s""",
        (run_id,),
    )[0]


def _kill(proc: subprocess.Popen) -> None:
    proc.send_signal(signal.SIGKILL)
    proc.wait(timeout=30)


def test_kill_9_while_reading_or_scoring_leaves_no_rows_and_is_reported_as_crashed(big_marts, read_from):
    db = big_marts
    proc = _score(db, "k1", read_from)
    _wait_for(lambda: _status(db, "k1") == "running", "the run to start")
    _kill(proc)
    assert _items(db, "k1") == 0 and _audits(db, "k1") == 0
    run = next(r for r in list_runs(db) if r["run_id"] == "k1")
    assert run["status"] == "failed" and run["error"].startswith("crashed")
    assert run_scoring(db, "k1", as_of=AS_OF, marts=read_from).status == "succeeded"  # the same id succeeds
    assert run_scoring(db, "uninterrupted", as_of=AS_OF, marts=read_from).status == "succeeded"
    assert _run_rows(db, "k1") == _run_rows(db, "uninterrupted")
    assert _suppressed_but_recommended(db, "k1") == 0


def test_kill_9_inside_the_write_transaction_leaves_no_partial_run(big_marts, read_from):
    db = big_marts
    with psycopg.connect(db.conninfo()) as blocker:
        blocker.execute("lock table reco.reco_item in share mode")
        proc = _score(db, "k2", read_from)
        _wait_for(lambda: _blocked_writing(db), "the scorer to block in its write transaction")
        _kill(proc)
        blocker.rollback()
    _wait_for(lambda: not _blocked_writing(db), "the server to end the dead session")
    assert _items(db, "k2") == 0 and _audits(db, "k2") == 0
    _wait_for(lambda: list_runs(db)[0]["status"] == "failed", "the run to be reported failed")
    assert run_scoring(db, "k2", as_of=AS_OF, marts=read_from).status == "succeeded"
    assert _items(db, "k2") > 0
    assert run_scoring(db, "uninterrupted", as_of=AS_OF, marts=read_from).status == "succeeded"
    assert _run_rows(db, "k2") == _run_rows(db, "uninterrupted")
    assert _suppressed_but_recommended(db, "k2") == 0


def test_of_two_runs_with_one_id_exactly_one_wins_and_the_other_says_why(big_marts):
    db = big_marts
    with psycopg.connect(db.conninfo()) as blocker:
        blocker.execute("lock table reco.reco_item in share mode")
        first = _score(db, "same")
        _wait_for(lambda: _blocked_writing(db), "the first run to block in its write transaction")
        second = _score(db, "same")
        _, err = second.communicate(timeout=60)
        blocker.rollback()
    out, _ = first.communicate(timeout=120)
    assert second.returncode == 1
    assert "run 'same' is being scored by another process" in err
    assert first.returncode == 0, out
    assert _status(db, "same") == "succeeded"


def test_two_racing_processes_with_one_id_give_one_success_and_one_clear_refusal(big_marts):
    db = big_marts
    procs = [_score(db, "race"), _score(db, "race")]
    results = [(p.wait(timeout=120), p.stderr.read()) for p in procs]
    codes = sorted(code for code, _ in results)
    assert codes == [0, 1]
    refusal = next(err for code, err in results if code == 1)
    assert "being scored by another process" in refusal or "already succeeded" in refusal
    assert _status(db, "race") == "succeeded"
