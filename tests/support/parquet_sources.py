"""The source tables of a PostgreSQL database written as the Parquet folders Spark's dbt sources
read (dbt_project/macros/parquet_sources.sql): ``<out>/<raw table>/part-0.parquet`` and
``<out>/reco/<reco table>/part-0.parquet``, each with the table's own columns typed as the raw
landing types them (``reco.ingest.parquet.polars_schema``, the one mapping).

A stand-in for ``reco load --parquet`` (which lands the validated batches themselves) for
bench/engines.py, which builds both engines from a database already loaded.
tests/dbt/test_spark_equality.py feeds Spark from the real loader instead.
"""

from __future__ import annotations

from pathlib import Path

from reco.db.target import Database
from reco.ingest.parquet import RAW_TABLES, RECO_SOURCES, export_sources


def write_parquet_sources(db: Database, out: Path) -> dict[str, int]:
    """Every raw table and every reco source table of ``db`` as Parquet under ``out``; the row
    count of each, by ``schema.table``."""
    return export_sources(db, out, RAW_TABLES + RECO_SOURCES)
