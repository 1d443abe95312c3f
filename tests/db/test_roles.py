"""``reco db roles``: each group role can do what it must and is refused what it must not,
checked by logging in as a member of it for real, on tables that existed when the roles were
made and on marts dbt rebuilt afterwards. Roles are cluster-wide (the server may be shared):
this test's names are its own and are dropped at the end."""

from __future__ import annotations

import uuid

import psycopg
import pytest
from psycopg import sql

from reco.db import roles
from reco.dbt.runner import run_dbt
from tests.cli.helpers import run_cli
from tests.dbt import warehouse_sample

MODELS_ONLY = ["--exclude-resource-type", "test", "--exclude-resource-type", "unit_test"]
PASSWORD = "role-test-pw"

READ_MART = "select count(*) from marts.customer"
READ_LOOKUP = "select count(*) from lookups.rfm_segments"
READ_RAW = "select count(*) from raw.customer"
READ_CONTACTS = "select count(*) from raw.contact"
READ_SALES = "select count(*) from raw.sales_line"
READ_RECO = "select count(*) from reco.reco_run"
# zero-row writes: the server checks the privilege, no row changes
WRITE_MART = "insert into marts.customer select * from marts.customer where false"
WRITE_RAW = "insert into raw.customer select * from raw.customer where false"
WRITE_RECO = "insert into reco.reco_run select * from reco.reco_run where false"
READ_VERSION = "select version_num from public.alembic_version"

CAN = {
    "analyst": [READ_MART, READ_LOOKUP],
    # the consent sources too: eligibility reads raw.customer and raw.contact itself
    "scorer": [READ_MART, READ_LOOKUP, READ_RECO, WRITE_RECO, READ_VERSION, READ_RAW, READ_CONTACTS],
    "loader": [READ_RAW, WRITE_RAW, READ_VERSION],
}
CANNOT = {
    "analyst": [READ_RAW, READ_RECO, WRITE_MART, WRITE_RAW, WRITE_RECO],
    "scorer": [READ_SALES, WRITE_RAW, WRITE_MART],
    "loader": [READ_MART, READ_RECO, WRITE_MART, WRITE_RECO],
}


@pytest.fixture
def names(use_db):
    """Group roles and a login member of each, named for this test only; dropped afterwards."""
    tag = f"t{uuid.uuid4().hex[:8]}"
    groups = {kind: f"{tag}_{kind}" for kind in roles.DEFAULT_NAMES}
    logins = {kind: f"{tag}_{kind}_login" for kind in roles.DEFAULT_NAMES}
    yield groups, logins
    with psycopg.connect(use_db.conninfo(), autocommit=True) as conn:
        every = [name for name in [*logins.values(), *groups.values()] if _exists(conn, name)]
        if every:
            conn.execute(sql.SQL("drop owned by {}").format(sql.SQL(", ").join(map(sql.Identifier, every))))
        for name in every:
            conn.execute(sql.SQL("drop role {}").format(sql.Identifier(name)))


def _exists(conn, name: str) -> bool:
    return conn.execute("select 1 from pg_roles where rolname = %s", (name,)).fetchone() is not None


def _allowed(db, login: str, statement: str) -> bool:
    url = db.url.set(username=login, password=PASSWORD, drivername="postgresql")
    with psycopg.connect(url.render_as_string(hide_password=False), autocommit=True) as conn:
        try:
            conn.execute(statement)
        except psycopg.errors.InsufficientPrivilege:
            return False
    return True


def _check(db, logins) -> None:
    for kind, login in logins.items():
        refused = [s for s in CAN[kind] if not _allowed(db, login, s)]
        allowed = [s for s in CANNOT[kind] if _allowed(db, login, s)]
        assert (refused, allowed) == ([], []), f"{kind}: refused what it must do / allowed what it must not"


def test_each_role_can_what_it_must_and_nothing_more_even_after_dbt_rebuilds(
    capsys, use_db, names, tmp_path, monkeypatch
):
    groups, logins = names
    monkeypatch.setenv("DBT_TARGET_PATH", str(tmp_path / "dbt_target"))
    warehouse_sample.load_wine(use_db)
    run_dbt(use_db, ["build", *MODELS_ONLY], capture=True)

    options = [f"--{kind}={name}" for kind, name in groups.items()]
    first = run_cli(capsys, "db", "roles", *options)
    assert first.code == 0, first.err
    assert first.out.count("created") == 3
    again = roles.ensure_roles(use_db, **groups)  # idempotent
    assert [created for _, created in again] == [False, False, False]
    with psycopg.connect(use_db.conninfo(), autocommit=True) as conn:
        for kind, login in logins.items():
            conn.execute(
                sql.SQL("create role {} login password {} in role {}").format(
                    sql.Identifier(login), sql.Literal(PASSWORD), sql.Identifier(groups[kind])
                )
            )
    _check(use_db, logins)  # on the tables that existed
    scorer = use_db.url.set(username=logins["scorer"], password=PASSWORD, drivername="postgresql")
    scored = run_cli(
        capsys,
        "--database-url",
        scorer.render_as_string(hide_password=False),
        "score",
        "--as-of",
        "2024-07-01",
    )
    assert scored.code == 0, scored.err  # the scorer role is enough for a real scoring run

    before = _oid(use_db, "marts.customer")
    run_dbt(use_db, ["run", "--select", "marts"], capture=True)
    assert _oid(use_db, "marts.customer") != before  # a new table, made after the roles
    _check(use_db, logins)


def _oid(db, table: str) -> int:
    with psycopg.connect(db.conninfo()) as conn:
        return conn.execute("select %s::regclass::oid", (table,)).fetchone()[0]
