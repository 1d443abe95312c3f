"""Session advisory locks that say a long job is alive.

A job (a backtest, a scoring run) takes ``pg_try_advisory_lock(class, hashtext(id))`` on a
connection of its own and keeps it for its whole life. The server releases the lock when that
session ends, however the process ended (kill -9, a crash, a lost network), so a later process
that finds the job still marked ``running`` and can take its lock knows that the job is dead.
"""

from __future__ import annotations

import psycopg

from reco.db.engine import psycopg_connect
from reco.db.target import Database

#: First key of the lock of a backtest (second: hashtext(backtest_id)); the scoring runs use
#: 0x5EC0 (reco.scoring.runs.LOCK_CLASS).
BACKTEST = 0x5EC1


def session(db: Database) -> psycopg.Connection:
    """An autocommit connection to hold locks on (one clear error when unreachable)."""
    return psycopg_connect(db, autocommit=True)


def try_lock(conn: psycopg.Connection, lock_class: int, key: str) -> bool:
    return conn.execute("select pg_try_advisory_lock(%s, hashtext(%s))", (lock_class, key)).fetchone()[0]


def unlock(conn: psycopg.Connection, lock_class: int, key: str) -> None:
    conn.execute("select pg_advisory_unlock(%s, hashtext(%s))", (lock_class, key))
