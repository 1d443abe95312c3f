"""Benchmark: the same dbt build on Apache Spark (dbt-spark, local session) and on PostgreSQL.

One command:

    uv run python bench/engines.py                       # the demo data, 5,000 customers
    uv run python bench/engines.py --customers 300       # the size of the equality test

Loads the demo wine merchant (as ``reco demo`` does: loads, build, score, campaign) into a
scratch database of the resolved server (the embedded one unless DATABASE_URL says otherwise),
writes its source tables as the Parquet folders Spark reads (tests/support/parquet_sources.py),
then times a full ``dbt build`` (seeds, models, data tests, unit tests) on each engine from the
same rows. The reference, measured in the same run, is the PostgreSQL build; the ratio is Spark
over PostgreSQL. Spark's time includes starting its JVM (one ``dbt`` process per build). Prints
``uptime``'s load averages before and after. The scratch database and folder are removed.
"""

from __future__ import annotations

import os
import subprocess
import sys
import tempfile
import time
import uuid
from pathlib import Path
from typing import Annotated

import psycopg
import typer

from reco.db.resolver import resolve
from reco.dbt.runner import run_dbt
from reco.demo import plan

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
from tests.support.parquet_sources import write_parquet_sources  # noqa: E402


def _uptime() -> str:
    return subprocess.run(["uptime"], capture_output=True, text=True).stdout.strip()


def main(
    customers: Annotated[int, typer.Option(help="Customers in the demo exports.")] = 5000,
) -> None:
    print(f"start: {_uptime()}")
    admin = resolve().for_database("postgres")
    name = f"bench_engines_{uuid.uuid4().hex[:8]}"
    with psycopg.connect(admin.conninfo(), autocommit=True) as conn:
        conn.execute(f'create database "{name}"')
    db = admin.for_database(name)
    root = Path(tempfile.mkdtemp(prefix="bench-engines-"))
    try:
        _, steps = plan(db, customers=customers, data_dir=root / "exports")
        for _, step in steps:
            step()
        counts = write_parquet_sources(db, root / "raw")
        print(f"demo data: {customers:,} customers, {counts['raw.sales_line']:,} sales lines")

        started = time.perf_counter()
        run_dbt(db, ["build"], capture=True)
        postgres_s = time.perf_counter() - started

        os.environ.update(
            RECO_RAW_PARQUET=str(root / "raw"),
            RECO_SPARK_HOME=str(root / "spark"),
            RECO_SPARK_MARTS=str(root / "marts"),
        )
        started = time.perf_counter()
        run_dbt(db, ["build", "--target", "spark"], capture=True)
        spark_s = time.perf_counter() - started

        print("| engine | dbt build, s | × PostgreSQL |")
        print("|---|---|---|")
        print(f"| PostgreSQL (embedded, reference) | {postgres_s:.1f} | 1.00 |")
        print(f"| Spark (local[2] session) | {spark_s:.1f} | {spark_s / postgres_s:.2f} |")
    finally:
        with psycopg.connect(admin.conninfo(), autocommit=True) as conn:
            conn.execute(f'drop database if exists "{name}" with (force)')
        subprocess.run(["rm", "-rf", str(root)], check=False)
        print(f"end: {_uptime()}")


if __name__ == "__main__":
    typer.run(main)
