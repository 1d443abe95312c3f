"""The fault-injection suite: faults injected for real. ``reco`` runs as a subprocess and is
sent real signals (SIGKILL, SIGTERM, SIGINT); the checks read the server and ``/proc``.

Some tests need a server they may crash: ``fault_server`` is an embedded server of the suite's
own, never the suite's shared server (killing that would take every other test down), and it is
embedded even when ``RECO_TEST_DATABASE_URL`` names an external server: only a server we
started ourselves can be killed with ``kill -9`` and restarted through crash recovery. Its
template database holds the demo exports (400 customers), loaded as a client would and built
with ``dbt build``; each test works on a clone of it (``fault_db``).
"""

from __future__ import annotations

import os
import shutil
import signal
import subprocess
import sys
import tempfile
import time
import uuid
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import date, timedelta
from pathlib import Path

import psycopg
import pytest
from sqlalchemy import URL

from reco.db import migrate
from reco.db.embedded import EmbeddedServer
from reco.db.target import Database
from reco.demo_data import ensure
from reco.ingest import LoadOptions, load_files
from reco.scoring.inputs import MARTS_READ
from reco.scoring.marts import export_parquet
from tests.dbt import warehouse_sample

DEMO_CUSTOMERS = 400
LOAD_ORDER = ("products", "customers", "sales", "aliases", "contacts")


def wait_for(predicate: Callable[[], object], what: str, timeout: float = 120) -> object:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        value = predicate()
        if value:
            return value
        time.sleep(0.05)
    raise AssertionError(f"timed out waiting for {what}")


def rows(db: Database, sql: str, params: tuple = ()) -> list[tuple]:
    with psycopg.connect(db.conninfo(), autocommit=True) as conn:
        return conn.execute(sql, params).fetchall()


def one(db: Database, sql: str, params: tuple = ()):
    return rows(db, sql, params)[0][0]


@dataclass
class FaultServer:
    """An embedded server of the suite's own, with a built demo warehouse as a template."""

    home: Path
    template: str
    end_date: date
    data_dir: Path
    #: the tables dbt built unlogged: logged in the template, so that a crash cannot empty the
    #: template itself, and unlogged again in each clone, as dbt left them
    unlogged: tuple[str, ...] = ()

    @property
    def server(self) -> EmbeddedServer:
        return EmbeddedServer(self.home)

    def database(self, name: str) -> Database:
        socket_dir = self.server.status().socket_dir or self.server.pgdata
        url = URL.create(
            "postgresql+psycopg", username="postgres", database=name, query={"host": str(socket_dir)}
        )
        return Database(url, "DATABASE_URL")

    def admin(self, sql: str) -> None:
        with psycopg.connect(self.database("postgres").conninfo(), autocommit=True) as conn:
            conn.execute(sql)

    def fresh(self) -> Database:
        name = f"fault_{uuid.uuid4().hex[:10]}"
        self.admin(f'create database "{name}" template "{self.template}"')
        db = self.database(name)
        with psycopg.connect(db.conninfo(), autocommit=True) as conn:
            for table in self.unlogged:
                conn.execute(f"alter table {table} set unlogged")
        return db

    def fresh_empty(self) -> Database:
        """A brand-new database with nothing in it (not even the migrations)."""
        name = f"fault_{uuid.uuid4().hex[:10]}"
        self.admin(f'create database "{name}"')
        return self.database(name)

    def drop(self, db: Database) -> None:
        self.admin(f'drop database if exists "{db.url.database}" with (force)')

    # -- real processes ------------------------------------------------------------------------
    def env(self, db: Database) -> dict[str, str]:
        env = {k: v for k, v in os.environ.items() if k not in ("RECO_TEST_DATABASE_URL",)}
        env.update(DATABASE_URL=db.conninfo(), RECO_HOME=str(self.home))
        return env

    def popen(self, db: Database, *args: str) -> subprocess.Popen:
        return subprocess.Popen(
            [sys.executable, "-m", "reco.cli.main", *args],
            env=self.env(db),
            cwd=self.home,  # files a command writes by default (charts, exports) stay out of the repo
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
        )

    def reco(self, db: Database, *args: str, timeout: float = 600) -> subprocess.CompletedProcess:
        proc = self.popen(db, *args)
        out, err = proc.communicate(timeout=timeout)
        return subprocess.CompletedProcess(proc.args, proc.returncode, out, err)

    # -- the server itself -------------------------------------------------------------------
    def crash(self) -> None:
        """kill -9 the postmaster, as the OOM killer or a power cut would, and wait until every
        backend has gone (they exit when they notice the postmaster is dead)."""
        pid = self.server.status().pid
        assert pid, "the fault server is not running"
        os.kill(pid, signal.SIGKILL)
        wait_for(lambda: not _alive(pid), "the postmaster to die")
        wait_for(lambda: not _backends(self.server.pgdata), "the backends to exit")

    def restart(self) -> None:
        """Start after a crash: PostgreSQL runs crash recovery (and empties unlogged tables)."""
        self.server.start()
        wait_for(lambda: self.server.status().running, "the server to accept connections")


def _alive(pid: int) -> bool:
    """The process exists, zombie included: PostgreSQL (and pgserver) take the pid of a dead
    but unreaped postmaster for a running one, so a restart must wait until it is reaped."""
    return Path(f"/proc/{pid}").exists()


def _backends(pgdata: Path) -> list[int]:
    """Processes still running a postgres binary with this data folder's sockets."""
    found = []
    for proc in Path("/proc").iterdir():
        if not proc.name.isdigit():
            continue
        try:
            cmd = (proc / "cmdline").read_bytes().replace(b"\0", b" ").decode(errors="replace")
        except OSError:
            continue
        if cmd.startswith("postgres:"):
            try:
                cwd = os.readlink(proc / "cwd")
            except OSError:
                continue
            if cwd == str(pgdata):
                found.append(int(proc.name))
    return found


def load_demo(db: Database, data_dir: Path, manifest) -> None:
    for entity in LOAD_ORDER:
        for f in (f for f in manifest.files if f.entity == entity):
            load_files(db, entity, [data_dir / f.name], LoadOptions())


def pytest_collection_modifyitems(items) -> None:
    """Mark the tests that run on the suite's own embedded server ``own_server``: they do not
    depend on RECO_TEST_DATABASE_URL, so CI's second pass (an external server) skips them."""
    for item in items:
        if "fault_server" in getattr(item, "fixturenames", ()):
            item.add_marker(pytest.mark.own_server)


@pytest.fixture(scope="session")
def fault_server(tmp_path_factory) -> Iterator[FaultServer]:
    from reco.dbt.runner import run_dbt

    home = Path(tempfile.mkdtemp(prefix="reco-fault-home-"))
    data_dir = tmp_path_factory.mktemp("fault-demo-data")
    manifest = ensure(data_dir, DEMO_CUSTOMERS, 42)
    fs = FaultServer(home, "fault_tpl", manifest.end_date, data_dir)
    fs.server.start()
    try:
        fs.admin(f'create database "{fs.template}"')
        db = fs.database(fs.template)
        migrate.upgrade(db)
        load_demo(db, data_dir, manifest)
        run_dbt(db, ["build"], capture=True)
        unlogged = rows(
            db,
            "select format('%%I.%%I', n.nspname, c.relname) from pg_class c"
            " join pg_namespace n on n.oid = c.relnamespace"
            " where c.relpersistence = 'u' and c.relkind = 'r'",
        )
        fs.unlogged = tuple(t for (t,) in unlogged)
        assert fs.unlogged, "dbt built no unlogged table: the crash tests would prove nothing"
        with psycopg.connect(db.conninfo(), autocommit=True) as conn:
            for table in fs.unlogged:
                conn.execute(f"alter table {table} set logged")
        yield fs
    finally:
        fs.server.stop()
        shutil.rmtree(home, ignore_errors=True)


@pytest.fixture
def fault_db(fault_server) -> Iterator[Database]:
    """A clone of the built demo warehouse on the fault server."""
    if not fault_server.server.status().running:  # a crash test left it down
        fault_server.restart()
    db = fault_server.fresh()
    yield db
    if fault_server.server.status().running:
        fault_server.drop(db)


@dataclass
class MartsUnderTest:
    """Where ``reco score`` reads the marts in a fault test: PostgreSQL's ``marts`` schema, or
    Parquet files exported from it as Spark lays them out (``reco.scoring.marts.export_parquet``),
    refreshed only when the test rebuilds the warehouse, so they are exactly as stale as the
    PostgreSQL marts: consent must hold on both paths."""

    kind: str
    root: Path

    def refresh(self, db: Database) -> None:
        """What a new build publishes (the Parquet export of the marts as they are now)."""
        if self.kind == "parquet":
            export_parquet(db, self.root, list(MARTS_READ))

    @property
    def args(self) -> list[str]:
        return ["--marts", f"parquet:{self.root}"] if self.kind == "parquet" else []

    def label(self, table: str) -> str:
        return f"parquet:{self.root / table}" if self.kind == "parquet" else f"marts.{table}"


@pytest.fixture(params=["postgres", "parquet"])
def marts(request, fault_db, tmp_path) -> MartsUnderTest:
    """The marts the test's runs read, built from ``fault_db``'s warehouse (both kinds)."""
    found = MartsUnderTest(request.param, tmp_path / "spark-marts")
    found.refresh(fault_db)
    return found


@pytest.fixture
def score_day(fault_server) -> date:
    """The day a CRM team scores the demo exports: the day after they end."""
    return fault_server.end_date + timedelta(days=1)


# -- reco processes and their dbt children ---------------------------------------------------


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
    """Live dbt processes whose parent is ``pid`` (a ``dbt`` command, or run_dbt's child
    ``python -m reco.dbt.invoke``): (pid, start time), read from /proc."""
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
        is_dbt = b"reco.dbt.invoke" in cmdline[:3] or any(
            Path(arg.decode(errors="replace")).name == "dbt" for arg in cmdline[:2]
        )
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


def one_row(db: Database, query: str, params: tuple = ()):
    with psycopg.connect(db.conninfo(), autocommit=True) as conn:
        return conn.execute(query, params).fetchone()


SIGNALS = {"SIGKILL": signal.SIGKILL, "SIGTERM": signal.SIGTERM, "SIGINT": signal.SIGINT}
