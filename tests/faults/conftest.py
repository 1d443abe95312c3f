"""Faults injected for real: ``reco`` runs as a subprocess against a real server and is sent
real signals (SIGKILL, SIGTERM, SIGINT); the checks read the server and ``/proc``."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path

import psycopg
import pytest

from reco.db.resolver import Database
from tests.dbt import warehouse_sample


@pytest.fixture(scope="session", autouse=True)
def _own_dbt_target(tmp_path_factory) -> Iterator[None]:
    """dbt artefacts of the tests go to a temporary folder, not the project's target/."""
    with pytest.MonkeyPatch.context() as mp:
        mp.setenv("DBT_TARGET_PATH", str(tmp_path_factory.mktemp("dbt_target")))
        yield


@pytest.fixture
def wine_db(use_db) -> Database:
    """A migrated database of its own with the wine sample in raw (warehouse not built)."""
    warehouse_sample.load_wine(use_db)
    return use_db


def reco(db: Database, *args: str) -> subprocess.Popen:
    """``reco ARGS`` as a user runs it (the console script's entry point), in a process."""
    env = {**os.environ, "DATABASE_URL": db.conninfo()}
    return subprocess.Popen(
        [sys.executable, "-m", "reco.cli.main", *args],
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )


def dbt_children(pid: int) -> list[tuple[int, str]]:
    """Live ``dbt`` processes whose parent is ``pid``: (pid, start time), read from /proc."""
    found = []
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        try:
            stat = (entry / "stat").read_text()
            cmdline = (entry / "cmdline").read_bytes().split(b"\0")
        except OSError:
            continue
        fields = stat[stat.rindex(")") + 2 :].split()
        is_dbt = any(Path(arg.decode(errors="replace")).name == "dbt" for arg in cmdline[:2])
        if int(fields[1]) == pid and fields[0] != "Z" and is_dbt:
            found.append((int(entry.name), fields[19]))
    return found


def alive(process: tuple[int, str]) -> bool:
    """Whether the process (pid, start time) still runs (a zombie does not; a reused pid is
    another process)."""
    pid, started = process
    try:
        stat = (Path("/proc") / str(pid) / "stat").read_text()
    except OSError:
        return False
    fields = stat[stat.rindex(")") + 2 :].split()
    return fields[0] != "Z" and fields[19] == started


def wait_for(predicate: Callable[[], object], what: str, timeout: float = 120) -> object:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        value = predicate()
        if value:
            return value
        time.sleep(0.05)
    raise AssertionError(f"timed out waiting for {what}")


@contextmanager
def holding_lock(db: Database, table: str) -> Iterator[None]:
    """Hold an ACCESS EXCLUSIVE lock on ``table``: whatever reads it waits, mid-run, for as long
    as the test needs (an orphaned dbt would wait on it forever instead of finishing)."""
    with psycopg.connect(db.conninfo()) as conn:
        conn.execute(f"lock table {table} in access exclusive mode")
        yield
        conn.rollback()


def dbt_waits_on_lock(db: Database) -> bool:
    """A dbt session is under way, waiting on a lock (see :func:`holding_lock`)."""
    with psycopg.connect(db.conninfo(), autocommit=True) as conn:
        return bool(
            conn.execute(
                "select count(*) from pg_stat_activity where datname = current_database()"
                " and application_name = 'dbt' and wait_event_type = 'Lock'"
            ).fetchone()[0]
        )


def one(db: Database, query: str, params: tuple = ()):
    with psycopg.connect(db.conninfo(), autocommit=True) as conn:
        return conn.execute(query, params).fetchone()


SIGNALS = {"SIGKILL": signal.SIGKILL, "SIGTERM": signal.SIGTERM, "SIGINT": signal.SIGINT}
