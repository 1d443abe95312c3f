"""``reco dbt build`` killed while dbt builds: the dbt child process dies with it, whatever the
signal (kill -9 leaves no handler to run), and the next build succeeds.

To kill it mid-build deterministically, the test holds a lock on ``raw.sales_line``: dbt waits
on it, and an orphaned dbt would wait there for as long as the lock is held."""

from __future__ import annotations

import pytest

from tests.faults.conftest import (
    SIGNALS,
    alive,
    dbt_children,
    dbt_waits_on_lock,
    holding_lock,
    one_row,
    reco,
    wait_for,
)

BUILD = ("dbt", "build", "--exclude-resource-type", "test", "--exclude-resource-type", "unit_test")


@pytest.mark.parametrize("signame", ["SIGKILL", "SIGTERM", "SIGINT"])
def test_killing_reco_dbt_build_leaves_no_dbt_process(wine_db, signame):
    with holding_lock(wine_db, "raw.sales_line"):
        proc = reco(wine_db, *BUILD)
        dbt = wait_for(lambda: dbt_children(proc.pid), "reco to start dbt")
        wait_for(lambda: dbt_waits_on_lock(wine_db), "dbt to be mid-build")
        proc.send_signal(SIGNALS[signame])
        code = proc.wait(timeout=60)
        # still inside the lock: an orphaned dbt would be waiting on it
        wait_for(lambda: not any(alive(p) for p in dbt), "dbt to die with reco", timeout=10)
    if signame == "SIGKILL":
        assert code == -9
    else:  # a handled interruption says so and exits 128 + the signal
        err = proc.stderr.read()
        assert code == 128 + SIGNALS[signame], err
        assert f"interrupted by {signame}" in err


def test_a_build_after_kill_9_succeeds(wine_db):
    with holding_lock(wine_db, "raw.sales_line"):
        proc = reco(wine_db, *BUILD)
        wait_for(lambda: dbt_waits_on_lock(wine_db), "dbt to be mid-build")
        proc.kill()
        proc.wait(timeout=60)
    rerun = reco(wine_db, *BUILD)
    out, err = rerun.communicate(timeout=600)
    assert rerun.returncode == 0, out + err
    assert one_row(wine_db, "select count(*) from marts.client_master_profile")[0] > 0
