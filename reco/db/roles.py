"""Least-privilege group roles (``reco db roles``): who may read and write which schema.

- analyst: reads dbt's ``marts`` and ``lookups`` (what the docs site describes), nothing else;
- scorer: reads ``marts`` and ``lookups`` and the consent sources in ``raw`` (``raw.customer``,
  ``raw.contact``: eligibility reads consent from durable tables), writes the ``reco`` schema
  (runs, items, audits);
- loader: writes the ``raw`` schema (``reco load``).

They are NOLOGIN group roles: people and services log in as their own roles, made members
(``create role alice login password '…' in role reco_analyst``). Grants cover the tables that
exist now and, through ``ALTER DEFAULT PRIVILEGES`` for the role that runs dbt and the
migrations (``owner``), every table it creates later: dbt rebuilds a mart as a new table at
each build, and the grants must survive that. Running it again changes nothing.
"""

from __future__ import annotations

from dataclasses import dataclass

import psycopg
from psycopg import sql

from reco.db.locks import session
from reco.db.models.base import CONSENT_SOURCES, RAW_SCHEMA, RECO_SCHEMA
from reco.db.target import Database

#: dbt's schemas that the analyst and the scorer read (dbt_project.yml: +schema)
READ_SCHEMAS = ("marts", "lookups")
DEFAULT_NAMES = {"analyst": "reco_analyst", "scorer": "reco_scorer", "loader": "reco_loader"}
WRITE = "select, insert, update, delete, truncate"
#: Alembic's version table, which every command checks before working
VERSION_TABLE = "public.alembic_version"


@dataclass(frozen=True)
class Role:
    name: str
    reads: tuple[str, ...]
    writes: tuple[str, ...]
    #: tables read in a schema the role does not read whole (Alembic's: never rebuilt)
    read_tables: tuple[str, ...] = ()


def plan(analyst: str, scorer: str, loader: str) -> list[Role]:
    return [
        Role(analyst, READ_SCHEMAS, ()),
        Role(
            scorer,
            READ_SCHEMAS,
            (RECO_SCHEMA,),
            tuple(t for t in CONSENT_SOURCES if not t.startswith(f"{RECO_SCHEMA}.")),
        ),
        Role(loader, (), (RAW_SCHEMA,)),
    ]


def _grants(role: Role, owner: str) -> list[sql.Composed]:
    r, o = sql.Identifier(role.name), sql.Identifier(owner)
    out = []
    for schema, privileges in [(s, "select") for s in role.reads] + [(s, WRITE) for s in role.writes]:
        s, priv = sql.Identifier(schema), sql.SQL(privileges)
        out += [
            # dbt creates its schemas only when missing: made here, the defaults below attach
            sql.SQL("create schema if not exists {} authorization {}").format(s, o),
            sql.SQL("grant usage on schema {} to {}").format(s, r),
            sql.SQL("grant {} on all tables in schema {} to {}").format(priv, s, r),
            sql.SQL("alter default privileges for role {} in schema {} grant {} on tables to {}").format(
                o, s, priv, r
            ),
        ]
        if privileges == WRITE:
            out += [
                sql.SQL("grant usage, select on all sequences in schema {} to {}").format(s, r),
                sql.SQL(
                    "alter default privileges for role {} in schema {} grant usage, select on sequences to {}"
                ).format(o, s, r),
            ]
    return out


def ensure_roles(
    db: Database,
    *,
    analyst: str = DEFAULT_NAMES["analyst"],
    scorer: str = DEFAULT_NAMES["scorer"],
    loader: str = DEFAULT_NAMES["loader"],
    owner: str | None = None,
) -> list[tuple[Role, bool]]:
    """Create the three group roles when missing and grant them their schemas; return each
    role with whether it was created now. ``owner`` is the role that runs dbt and the
    migrations (default: the connecting role)."""
    done = []
    with session(db) as conn, conn.transaction():
        owner = owner or conn.execute("select current_user").fetchone()[0]
        versioned = conn.execute("select to_regclass(%s) is not null", (VERSION_TABLE,)).fetchone()[0]
        for role in plan(analyst, scorer, loader):
            created = _create(conn, role.name)
            for statement in _grants(role, owner):
                conn.execute(statement)
            for table in role.read_tables:
                schema, name = table.split(".")
                if conn.execute("select to_regclass(%s) is not null", (table,)).fetchone()[0]:
                    conn.execute(
                        sql.SQL("grant usage on schema {} to {}").format(
                            sql.Identifier(schema), sql.Identifier(role.name)
                        )
                    )
                    conn.execute(
                        sql.SQL("grant select on {}.{} to {}").format(
                            sql.Identifier(schema), sql.Identifier(name), sql.Identifier(role.name)
                        )
                    )
            if versioned and role.writes:
                conn.execute(
                    sql.SQL("grant select on {} to {}").format(
                        sql.SQL(VERSION_TABLE), sql.Identifier(role.name)
                    )
                )
            done.append((role, created))
    return done


def _create(conn: psycopg.Connection, name: str) -> bool:
    if conn.execute("select 1 from pg_roles where rolname = %s", (name,)).fetchone():
        return False
    conn.execute(sql.SQL("create role {} nologin").format(sql.Identifier(name)))
    return True
