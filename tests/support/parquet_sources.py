"""The source tables of a PostgreSQL database written as the Parquet folders Spark's dbt sources
read (dbt_project/macros/parquet_sources.sql): ``<out>/<raw table>/part-0.parquet`` and
``<out>/reco/<reco table>/part-0.parquet``, each with the table's own columns.

A stand-in for ``reco load --parquet`` (which lands the validated batches themselves) so that
the cross-engine tests feed both engines the same raw rows. Types: json, jsonb and uuid are
written as text (Spark has no JSON type: its models read JSON text), numeric as double (the raw
tables' numerics are unconstrained; Parquet decimals need a fixed scale); the rest keep their type.
"""

from __future__ import annotations

from pathlib import Path

import polars as pl

from reco.db.engine import adbc_connect
from reco.db.target import Database

#: Schemas whose tables are dbt sources, and the sub-folder of each under ``out``.
SCHEMAS = {"raw": "", "reco": "reco"}


def _select_list(conn, schema: str, table: str) -> str:
    with conn.cursor() as cur:
        cur.execute(
            "select column_name, data_type from information_schema.columns "
            f"where table_schema = '{schema}' and table_name = '{table}' order by ordinal_position"
        )
        columns = cur.fetchall()
    parts = []
    for name, data_type in columns:
        if data_type in ("json", "jsonb", "uuid", "ARRAY"):
            parts.append(f'"{name}"::text as "{name}"')
        elif data_type == "numeric":
            parts.append(f'"{name}"::double precision as "{name}"')
        else:
            parts.append(f'"{name}"')
    return ", ".join(parts)


def write_parquet_sources(db: Database, out: Path) -> dict[str, int]:
    """Every base table of the schemas raw and reco as Parquet under ``out``; the row count of
    each, by ``schema.table``."""
    counts: dict[str, int] = {}
    with adbc_connect(db) as conn:
        with conn.cursor() as cur:
            cur.execute(
                "select table_schema, table_name from information_schema.tables "
                "where table_schema in ('raw', 'reco') and table_type = 'BASE TABLE' order by 1, 2"
            )
            tables = cur.fetchall()
        for schema, table in tables:
            query = f"select {_select_list(conn, schema, table)} from {schema}.{table}"
            frame = pl.read_database(query, conn)
            folder = out / SCHEMAS[schema] / table
            folder.mkdir(parents=True, exist_ok=True)
            frame.write_parquet(folder / "part-0.parquet")
            counts[f"{schema}.{table}"] = frame.height
    return counts
