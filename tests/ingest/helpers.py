"""Small helpers for ingestion tests: query the raw schema of a test database."""

from __future__ import annotations

import psycopg

from reco.db.target import Database


def rows(db: Database, sql: str, params: tuple | dict = ()) -> list[tuple]:
    with psycopg.connect(db.conninfo()) as conn:
        return conn.execute(sql, params or None).fetchall()


def scalar(db: Database, sql: str, params: tuple = ()):
    return rows(db, sql, params)[0][0]


def count(db: Database, table: str) -> int:
    return scalar(db, f"select count(*) from {table}")
