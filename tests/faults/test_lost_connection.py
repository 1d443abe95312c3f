"""A connection lost in the middle of a command (the session terminated on the server, as a
restart or a failover does): one line naming the server and what to do, exit code 1.

The scorer is held inside its write transaction by a SHARE lock on reco.reco_item, then its
waiting session is terminated with ``pg_terminate_backend`` from another connection."""

from __future__ import annotations

import json

import psycopg

from tests.faults.conftest import one_row, reco, wait_for
from tests.support.synthetic_marts import Shape, generate_marts, write_marts

AS_OF = "2026-01-01"


def _blocked_sessions(db) -> list[int]:
    with psycopg.connect(db.conninfo(), autocommit=True) as conn:
        rows = conn.execute(
            "select pid from pg_stat_activity where datname = current_database()"
            " and wait_event_type = 'Lock' and query ilike '%%reco.reco_item%%'"
        ).fetchall()
    return [pid for (pid,) in rows]


def test_a_connection_lost_mid_score_names_the_server_and_what_to_do(use_db):
    from datetime import date

    write_marts(use_db, generate_marts(Shape(n_customers=300, n_products=60), seed=3, as_of=date(2026, 1, 1)))
    with psycopg.connect(use_db.conninfo()) as blocker:
        blocker.execute("lock table reco.reco_item in share mode")
        proc = reco(use_db, "score", "--run-id", "lost", "--as-of", AS_OF, "--json")
        pids = wait_for(lambda: _blocked_sessions(use_db), "the scorer to wait in its write transaction")
        for pid in pids:
            one_row(use_db, "select pg_terminate_backend(%s)", (pid,))
        blocker.rollback()
    out, err = proc.communicate(timeout=120)

    assert proc.returncode == 1, err
    lines = err.strip().splitlines()
    assert len(lines) == 1, err
    where = f"{use_db.host}:{use_db.port}/{use_db.url.database}"
    assert lines[0].startswith(f"error: database error at {where}: "), lines[0]
    assert "reco db status" in lines[0] and "rerun" in lines[0]
    assert "unexpected" not in err and (use_db.url.password or "\0") not in err
    error = json.loads(out.strip().splitlines()[-1])["error"]
    assert error["code"] == 1 and error["kind"] == "database" and where in error["message"]
