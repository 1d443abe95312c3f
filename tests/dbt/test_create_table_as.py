"""The project's create_table_as override (dbt_project/macros/create_table_as.sql).

It shadows dbt-postgres' macro for every table and calls dbt-adapters' contract macros, so:
the upstream macro it was written against is fingerprinted (an upgrade that changes it fails
here, asking for a review of the override), and the constraints it creates are checked on a
tiny project of two contracted models built in one ``dbt run``: one whose table gets every
constraint kind, one whose duplicate key must fail the build.
"""

from __future__ import annotations

import hashlib
import re
import shutil
import uuid
from pathlib import Path

import dbt.include.global_project
import dbt.include.postgres
import psycopg
import pytest

from reco.dbt.runner import dbt_project_dir, run_dbt
from reco.errors import RecoError

OVERRIDE = dbt_project_dir() / "macros" / "create_table_as.sql"
#: sha256 of dbt-postgres 1.11's postgres__create_table_as, whitespace collapsed.
UPSTREAM_SHA256 = "491b962a2a340ed368bd6361fefbeba94e350416ebf1741b4680109f91873fbb"
#: dbt-adapters macros the override calls.
CALLED = ("get_assert_columns_equivalent", "get_select_subquery", "get_table_columns_and_constraints")

CONTRACT = """
version: 2
models:
  - name: {name}
    config:
      contract: {{enforced: true}}
    columns:
      - name: id
        data_type: integer
        constraints: [{{type: primary_key}}, {{type: not_null}}]
      - name: label
        data_type: text
        constraints: [{{type: not_null}}, {{type: unique}}]
      - name: score
        data_type: integer
        constraints: [{{type: check, expression: "score between 1 and 5"}}]
      - name: note
        data_type: text
"""


def _macro(path: Path, name: str) -> str:
    match = re.search(r"\{%-? macro " + name + r"\(.*?\{%-? endmacro -?%\}", path.read_text(), re.S)
    assert match, f"{name} not in {path}"
    return match.group(0)


def test_the_shadowed_dbt_postgres_macro_is_the_one_the_override_was_written_for():
    upstream = _macro(
        Path(dbt.include.postgres.__path__[0]) / "macros" / "adapters.sql", "postgres__create_table_as"
    )
    assert hashlib.sha256(" ".join(upstream.split()).encode()).hexdigest() == UPSTREAM_SHA256, (
        "dbt-postgres' create_table_as changed: re-read dbt_project/macros/create_table_as.sql"
    )
    ours = OVERRIDE.read_text()
    defined = " ".join(p.read_text() for p in Path(dbt.include.global_project.__path__[0]).rglob("*.sql"))
    for name in CALLED:
        assert f"{name}(" in ours and f"macro {name}(" in defined, name


@pytest.fixture(scope="module")
def tiny_build(pg_admin, tmp_path_factory):
    """Two contracted models built in one ``dbt run`` with the override; the run fails (one of
    them has a duplicate key) and its output is kept."""
    project = tmp_path_factory.mktemp("ctas_project")
    (project / "macros").mkdir()
    (project / "models").mkdir()
    shutil.copy(OVERRIDE, project / "macros")
    (project / "dbt_project.yml").write_text(
        "name: ctas_check\nversion: '1.0'\nprofile: reco\nmodel-paths: [models]\nmacro-paths: [macros]\n"
        "models:\n  ctas_check:\n    +materialized: table\n"
    )
    rows = {
        "keyed": "(1, 'a', 5, null), (2, 'b', 3, 'x')",
        "duplicate_key": "(1, 'a', 5, null), (1, 'b', 3, 'x')",
    }
    for name, values in rows.items():
        (project / "models" / f"{name}.sql").write_text(
            f"select id::integer, label::text, score::integer, note::text\n"
            f"from (values {values}) as v (id, label, score, note)\n"
        )
        (project / "models" / f"_{name}.yml").write_text(CONTRACT.format(name=name))
    db = pg_admin.for_database(f"reco_ctas_{uuid.uuid4().hex[:10]}")
    with psycopg.connect(pg_admin.conninfo(), autocommit=True) as conn:
        conn.execute(f'create database "{db.url.database}"')
    args = ["run", "--project-dir", str(project), "--target-path", str(project / "target"), "--threads", "2"]
    try:
        with pytest.raises(RecoError) as failed:
            run_dbt(db, args, capture=True)
        yield db, str(failed.value)
    finally:
        with psycopg.connect(pg_admin.conninfo(), autocommit=True) as conn:
            conn.execute(f'drop database if exists "{db.url.database}" with (force)')


def test_a_duplicate_key_fails_the_build_and_leaves_no_table(tiny_build):
    db, output = tiny_build
    assert "duplicate_key" in output and "could not create unique index" in output
    with psycopg.connect(db.conninfo()) as conn:
        assert conn.execute("select to_regclass('analytics.duplicate_key')").fetchone()[0] is None


def test_the_table_gets_every_constraint_of_its_contract(tiny_build):
    db, _ = tiny_build
    with psycopg.connect(db.conninfo()) as conn:
        constraints = dict(
            conn.execute(
                """select conname, pg_get_constraintdef(oid) from pg_constraint
                   where conrelid = 'analytics.keyed'::regclass"""
            ).fetchall()
        )
        not_null = {
            name
            for (name,) in conn.execute(
                """select attname from pg_attribute
                   where attrelid = 'analytics.keyed'::regclass and attnum > 0 and attnotnull"""
            )
        }
        columns = conn.execute(
            """select column_name, data_type from information_schema.columns
               where table_schema = 'analytics' and table_name = 'keyed' order by ordinal_position"""
        ).fetchall()
    # named after the relation dbt builds and then renames, as dbt's own create-then-insert names them
    assert constraints == {
        "keyed__dbt_tmp_pkey": "PRIMARY KEY (id)",
        "keyed__dbt_tmp_label_key": "UNIQUE (label)",
        "keyed__dbt_tmp_score_check": "CHECK (((score >= 1) AND (score <= 5)))",
    }
    assert not_null == {"id", "label"}
    assert columns == [("id", "integer"), ("label", "text"), ("score", "integer"), ("note", "text")]
