"""Engines and connections on a resolved database, with one clear error when unreachable."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager

import psycopg
from sqlalchemy import Engine, create_engine, text
from sqlalchemy.exc import OperationalError
from sqlalchemy.pool import NullPool

from reco.db.resolver import Database, mask_url
from reco.errors import RecoError

CONNECT_TIMEOUT_S = 5


def unreachable(db: Database, exc: BaseException) -> RecoError:
    reason = str(getattr(exc, "orig", None) or exc).strip().splitlines()[0]
    return RecoError(
        f"cannot reach PostgreSQL at {db.host}:{db.port} (database {db.url.database!r}, "
        f"from {db.origin}): {mask_url(reason)}"
    )


def make_engine(db: Database, **kwargs) -> Engine:
    kwargs.setdefault("poolclass", NullPool)
    return create_engine(db.url, connect_args={"connect_timeout": CONNECT_TIMEOUT_S}, **kwargs)


@contextmanager
def connect(db: Database) -> Iterator:
    """A SQLAlchemy connection in a transaction (committed on success)."""
    engine = make_engine(db)
    try:
        try:
            conn = engine.connect()
        except OperationalError as exc:
            raise unreachable(db, exc) from None
        with conn, conn.begin():
            yield conn
    finally:
        engine.dispose()


def ensure_database(db: Database) -> None:
    """Create the target database when the server has no such database yet."""
    name = db.url.database
    admin = db.for_database("postgres")
    try:
        with psycopg.connect(admin.conninfo(), autocommit=True, connect_timeout=CONNECT_TIMEOUT_S) as conn:
            exists = conn.execute("select 1 from pg_database where datname = %s", (name,)).fetchone()
            if not exists:
                conn.execute(f'create database "{name}"')
    except psycopg.OperationalError as exc:
        raise unreachable(admin, exc) from None


def server_version(db: Database) -> str:
    with connect(db) as conn:
        return conn.execute(text("show server_version")).scalar_one()
