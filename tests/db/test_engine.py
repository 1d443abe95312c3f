"""Every driver's connection comes from reco.db.engine, with one "cannot reach" error."""

from __future__ import annotations

import pytest
from sqlalchemy import text

from reco.db.engine import adbc_connect, connect, psycopg_connect
from reco.db.target import Database, parse_url
from reco.errors import DatabaseError

ORIGIN = "--database-url"
UNREACHABLE = Database(parse_url("postgresql://bob:s3cret@127.0.0.1:1/crm", ORIGIN), ORIGIN)


def _open_psycopg(db):
    with psycopg_connect(db) as conn:
        return conn.execute("select 1").fetchone()[0]


def _open_sqlalchemy(db):
    with connect(db) as conn:
        return conn.execute(text("select 1")).scalar_one()


def _open_adbc(db):
    with adbc_connect(db) as conn, conn.cursor() as cur:
        cur.execute("select 1")
        return cur.fetchone()[0]


OPENERS = [_open_psycopg, _open_sqlalchemy, _open_adbc]


@pytest.mark.parametrize("open_", OPENERS, ids=["psycopg", "sqlalchemy", "adbc"])
def test_each_driver_reaches_the_database(pg_admin, open_):
    assert open_(pg_admin) == 1


def test_every_driver_says_cannot_reach_in_the_same_words_without_the_password():
    messages = set()
    for open_ in OPENERS:
        with pytest.raises(DatabaseError) as caught:
            open_(UNREACHABLE)
        messages.add(str(caught.value).split(": ", 1)[0])
        assert "s3cret" not in str(caught.value)
        assert str(caught.value).endswith("then rerun the command")
    assert messages == {"cannot reach PostgreSQL at 127.0.0.1:1/crm (from --database-url)"}
