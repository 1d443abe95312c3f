"""Every connection reco opens, with one clear error when the server cannot be reached.

One function per driver, each with the same timeout and the same "cannot reach" error:

- :func:`connect` / :func:`make_engine`: SQLAlchemy (Alembic, ``reco db``, small queries);
- :func:`psycopg_connect`: psycopg 3 (binary COPY, advisory locks, autocommit work);
- :func:`adbc_connect`: ADBC (bulk reads into Arrow / Polars, bulk ingest).
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

import adbc_driver_manager
import adbc_driver_postgresql.dbapi as adbc
import psycopg
from sqlalchemy import Engine, create_engine, text
from sqlalchemy.exc import DBAPIError, OperationalError
from sqlalchemy.pool import NullPool

from reco.db.target import Database, mask_url
from reco.errors import DatabaseError

CONNECT_TIMEOUT_S = 5
WHAT_TO_DO = "check that the server runs (`reco db status`), then rerun the command"


def _reason(exc: BaseException) -> str:
    text = str(getattr(exc, "orig", None) or exc).strip()
    return mask_url(text.splitlines()[0]) if text else type(exc).__name__


def where(db: Database) -> str:
    """``host:port/database``: the server and database an error is about (never a password)."""
    return f"{db.host}:{db.port}/{db.url.database}"


def unreachable(db: Database, exc: BaseException) -> DatabaseError:
    return DatabaseError(
        f"cannot reach PostgreSQL at {where(db)} (from {db.origin}): {_reason(exc)}; {WHAT_TO_DO}"
    )


def connection_lost(db: Database | None, exc: BaseException) -> DatabaseError:
    """A connection error in the middle of a command (the server stopped, the session was
    terminated, the network dropped), as one line naming the server and what to do."""
    at = f" at {where(db)}" if db is not None else ""
    return DatabaseError(f"database error{at}: {_reason(exc)}; {WHAT_TO_DO}")


def is_connection_error(exc: BaseException) -> bool:
    """psycopg's, SQLAlchemy's and ADBC's OperationalError (the server or the connection
    failed, not the SQL), and SQLAlchemy errors that invalidated their connection."""
    if isinstance(exc, psycopg.OperationalError | adbc_driver_manager.OperationalError | OperationalError):
        return True
    return isinstance(exc, DBAPIError) and exc.connection_invalidated


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


def psycopg_connect(db: Database, **kwargs: Any) -> psycopg.Connection:
    """A psycopg connection (``kwargs`` as ``psycopg.connect``'s, e.g. ``autocommit=True``);
    use it in a ``with`` block, which commits on success and closes it."""
    try:
        return psycopg.connect(db.conninfo(), connect_timeout=CONNECT_TIMEOUT_S, **kwargs)
    except psycopg.OperationalError as exc:
        raise unreachable(db, exc) from None


@contextmanager
def adbc_connect(db: Database) -> Iterator[adbc.Connection]:
    """An ADBC connection (one transaction until commit; rolled back if not committed)."""
    uri = db.url.set(drivername="postgresql").update_query_dict({"connect_timeout": str(CONNECT_TIMEOUT_S)})
    try:
        conn = adbc.connect(uri.render_as_string(hide_password=False))
    except adbc_driver_manager.OperationalError as exc:
        raise unreachable(db, exc) from None
    try:
        yield conn
    finally:
        conn.close()


def ensure_database(db: Database) -> None:
    """Create the target database when the server has no such database yet."""
    name = db.url.database
    with psycopg_connect(db.for_database("postgres"), autocommit=True) as conn:
        exists = conn.execute("select 1 from pg_database where datname = %s", (name,)).fetchone()
        if not exists:
            conn.execute(f'create database "{name}"')


def server_version(db: Database) -> str:
    with connect(db) as conn:
        return conn.execute(text("show server_version")).scalar_one()
