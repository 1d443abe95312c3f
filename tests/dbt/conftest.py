"""Warehouses built once per module: a fresh migrated database (cloned from the session's
template, like the ``db`` fixture), raw tables filled by tests/dbt/sample.py, then ``dbt build``
(seeds, models, data tests and unit tests). Building once and asserting many times keeps the
suite fast."""

from __future__ import annotations

import uuid
from collections.abc import Callable, Iterator

import psycopg
import pytest
import warehouse_sample as sample

from reco.db.target import Database
from reco.dbt.runner import run_dbt


def _fresh_from_template(admin: Database, template: str) -> Database:
    name = f"reco_dbt_{uuid.uuid4().hex[:10]}"
    with psycopg.connect(admin.conninfo(), autocommit=True) as conn:
        conn.execute(f'create database "{name}" template "{template}"')
    return admin.for_database(name)


def _drop(admin: Database, db: Database) -> None:
    with psycopg.connect(admin.conninfo(), autocommit=True) as conn:
        conn.execute(f'drop database if exists "{db.url.database}" with (force)')


def _built(pg_admin, migrated_template, load: Callable[[Database], None], *extra: str) -> Iterator[Database]:
    db = _fresh_from_template(pg_admin, migrated_template)
    try:
        load(db)
        # Thousands of tiny queries: more threads than cores hide the round trips.
        run_dbt(db, ["build", "--threads", "4", *extra], capture=True)
        yield db
    finally:
        _drop(pg_admin, db)


@pytest.fixture(scope="module")
def migrated_db(pg_admin, migrated_template) -> Iterator[Database]:
    """A fresh migrated database with nothing loaded, for tests that build a few models."""
    db = _fresh_from_template(pg_admin, migrated_template)
    try:
        yield db
    finally:
        _drop(pg_admin, db)


@pytest.fixture(scope="module")
def wine_warehouse(pg_admin, migrated_template) -> Iterator[Database]:
    """The wine-merchant sample, built."""
    yield from _built(pg_admin, migrated_template, sample.load_wine)


@pytest.fixture(scope="module")
def retail_warehouse(pg_admin, migrated_template) -> Iterator[Database]:
    """The Online-Retail-like sample (sales lines only), built."""
    # The unit tests do not depend on the data: the wine build runs them.
    yield from _built(pg_admin, migrated_template, sample.load_retail, "--exclude", "test_type:unit")
