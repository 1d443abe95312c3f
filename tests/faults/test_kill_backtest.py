"""``reco backtest`` interrupted (SIGTERM, Ctrl-C) or killed (kill -9) while it rebuilds the
warehouse or scores: no ``bt_<id>_*`` schema is left, the run is not left ``running``, no dbt
process survives. After kill -9 no handler runs: the next backtest cleans up.

The test pauses the backtest where it wants it: in a dbt rebuild by holding a lock on
``raw.sales_line`` (dbt waits on it), in the scoring by stopping the process (SIGSTOP) as soon
as it says it is scoring, before sending the signal and resuming it."""

from __future__ import annotations

import signal
import threading
from datetime import date

from reco.backtest.run import run_backtest
from tests.faults.conftest import (
    alive,
    dbt_children,
    dbt_waits_on_lock,
    holding_lock,
    one,
    one_row,
    reco,
    wait_for,
)

CUTOFF, HORIZON = "2024-05-01", "60"
BACKTEST = ("backtest", "--cutoff", CUTOFF, "--horizon-days", HORIZON, "--json")


def _run_row(db) -> tuple[str, str, str | None]:
    return one_row(
        db, "select backtest_id, status, error from reco.backtest_run order by started_at desc limit 1"
    )


def _schemas(db, backtest_id: str) -> int:
    return one(db, "select count(*) from pg_namespace where starts_with(nspname, %s)", (f"{backtest_id}_",))


def _interrupted_in_rebuild(db, sig: signal.Signals):
    """Start a backtest, send ``sig`` while dbt rebuilds; return (process, dbt children, id)."""
    with holding_lock(db, "raw.sales_line"):
        proc = reco(db, *BACKTEST)
        dbt = wait_for(lambda: dbt_children(proc.pid), "the backtest to start dbt")
        wait_for(lambda: dbt_waits_on_lock(db), "dbt to be mid-rebuild")
        backtest_id = _run_row(db)[0]
        assert _schemas(db, backtest_id) > 0  # the rebuild has made its schemas
        proc.send_signal(sig)
        proc.wait(timeout=60)
        wait_for(lambda: not any(alive(p) for p in dbt), "dbt to die with the backtest", timeout=10)
    return proc, backtest_id


def test_sigterm_during_the_rebuild_drops_the_schemas_and_records_the_interruption(wine_db):
    proc, backtest_id = _interrupted_in_rebuild(wine_db, signal.SIGTERM)
    assert proc.returncode == 128 + signal.SIGTERM
    assert _run_row(wine_db)[1:] == ("failed", "interrupted by SIGTERM")
    assert _schemas(wine_db, backtest_id) == 0


def test_ctrl_c_during_scoring_drops_the_schemas_and_records_the_interruption(wine_db):
    proc = reco(wine_db, *BACKTEST)
    said: list[str] = []

    def watch() -> None:  # stop the backtest the moment it says it is scoring, once
        for line in proc.stderr:
            said.append(line)
            if ": scoring" in line and sum(": scoring" in s for s in said) == 1:
                # (once: the interruption can land inside the console's print, which then
                # writes its buffered line again; stopping on that copy would hang the test)
                proc.send_signal(signal.SIGSTOP)

    reader = threading.Thread(target=watch, daemon=True)
    reader.start()
    wait_for(lambda: any(": scoring" in line for line in said), "the backtest to score", timeout=300)
    backtest_id = _run_row(wine_db)[0]
    assert dbt_children(proc.pid) == [] and _schemas(wine_db, backtest_id) > 0
    proc.send_signal(signal.SIGINT)
    proc.send_signal(signal.SIGCONT)
    proc.wait(timeout=60)
    reader.join(timeout=10)
    assert proc.returncode == 128 + signal.SIGINT, "".join(said)
    assert not any("evaluating" in line for line in said)  # it was stopped in the scoring
    assert _run_row(wine_db)[1:] == ("failed", "interrupted by SIGINT")
    assert _schemas(wine_db, backtest_id) == 0


def test_after_kill_9_the_next_backtest_marks_the_run_failed_and_drops_its_schemas(wine_db):
    proc, killed = _interrupted_in_rebuild(wine_db, signal.SIGKILL)
    assert proc.returncode == -signal.SIGKILL
    assert _run_row(wine_db)[:2] == (killed, "running")  # no handler ran

    report = run_backtest(wine_db, [date.fromisoformat(CUTOFF)], int(HORIZON), n_resamples=20)
    status, error = one_row(
        wine_db, "select status, error from reco.backtest_run where backtest_id = %s", (killed,)
    )
    assert status == "failed" and error.startswith("abandoned") and report.backtest_id in error
    assert _schemas(wine_db, killed) == 0
    assert _run_row(wine_db)[:2] == (report.backtest_id, "succeeded")
    assert one_row(wine_db, "select count(*) from pg_namespace where nspname like 'bt\\_%%'")[0] == 0
