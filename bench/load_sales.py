"""Benchmark: `reco load sales` on N sales lines from CSV vs a bare COPY of the same file.

One command:  uv run python bench/load_sales.py [--rows 1000000] [--lines 10000000]

Writes a synthetic CSV (canonical headers), creates a scratch database on the server reco
resolves (embedded by default, or DATABASE_URL), migrates it, then times in the same run:
  1. `load_files(db, "sales", [csv])`: read, validate, natural key (sha256 in Polars), land
     (anti-join on landed keys, binary COPY into raw.sales_line, primary key and unique
     line_key rebuilt), rejects and batch record, in one transaction;
  2. a bare `COPY … FROM STDIN (FORMAT csv)` of the same file into an unindexed table with the
     same typed columns (the reference);
  3. for comparison, the least a client-side loader does with the same rows: Polars reads the
     file with the typed schema (no validation, no key, no lineage) and ADBC writes the 8
     columns by binary COPY into another unindexed table of the same shape; and the same with
     reco's own binary COPY encoder (``reco.ingest.pgcopy``, what the load uses) instead of ADBC;
  4. after the load, the server's share alone: the landed rows of raw.sales_line, already
     encoded (``COPY … TO STDOUT (FORMAT binary)`` into memory), COPYed again into an unindexed
     copy of the table, then its primary key and unique line_key built, as the load does. No
     client-side work at all, so no loader that lands this row with its guard can be faster.
Prints all four, rows/s and the ratios against the bare COPY and against the server alone
(target: load ≤ 1.5 × the server alone), the load's peak memory (it runs in a child process:
its peak resident set, and its CPU seconds) and the machine's load averages before and after.
The load streams (reading, typing and keying chunk k + 1 while chunk k is COPYed), so its
Polars side (the files' seconds in the report: the producer's busy time) overlaps the landing.
``--lines N`` (repeatable) also loads an N-line file into a fresh database and prints its
seconds and peak memory next to the first one's (is the load's memory flat as files grow?).
The scratch databases are dropped at the end.
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tempfile
import time
import uuid
from pathlib import Path

import adbc_driver_postgresql.dbapi as adbc
import numpy as np
import polars as pl
import psycopg
from rich.console import Console
from rich.table import Table

from reco.db import migrate
from reco.db.resolver import resolve
from reco.ingest import load_files, pgcopy

COLUMNS = "doc_ref, order_ts, customer_code, product_key, product_label, quantity, unit_price, country"
BARE_TABLE = """
create table bench_bare (
    doc_ref varchar(255), order_ts timestamp, customer_code varchar(255), product_key varchar(255),
    product_label varchar(512), quantity numeric(18, 4), unit_price numeric(18, 4),
    country varchar(255)
)"""


def write_csv(path: Path, n: int, seed: int = 7) -> None:
    """N lines on ~n/4 invoices of up to 8 lines, 50k customers, 2k products (vectorised)."""
    rng = np.random.default_rng(seed)
    invoice = np.sort(rng.integers(0, max(1, n // 4), n))
    products = rng.integers(0, 2000, n)
    minutes = rng.integers(0, 3 * 365 * 24 * 60, max(1, n // 4) + 1)
    customers = rng.integers(0, 50_000, max(1, n // 4) + 1)
    base = pl.DataFrame(
        {
            "invoice": invoice,
            "minute": minutes[invoice],
            "customer": customers[invoice],
            "product": products,
            "quantity": rng.integers(1, 13, n),
            "unit_price": np.round(rng.uniform(4, 120, n), 2),
        }
    )
    base.select(
        doc_ref=pl.col("invoice").cast(pl.String).str.zfill(8),
        order_ts=(pl.datetime(2021, 1, 1) + pl.duration(minutes=pl.col("minute"))).dt.to_string(
            "%Y-%m-%d %H:%M:%S"
        ),
        customer_code=pl.col("customer").cast(pl.String),
        product_key=pl.format("P{}", pl.col("product")),
        product_label=pl.format("Wine {} 75cl", pl.col("product")),
        quantity=pl.col("quantity"),
        unit_price=pl.col("unit_price"),
        country=pl.lit("France"),
    ).write_csv(path)


def bare_copy(conninfo: str, path: Path) -> float:
    with psycopg.connect(conninfo) as conn:
        conn.execute(BARE_TABLE)
        conn.commit()
        start = time.perf_counter()
        with (
            conn.cursor() as cur,
            cur.copy(f"copy bench_bare ({COLUMNS}) from stdin (format csv, header true)") as copy,
            path.open("rb") as fh,
        ):
            while chunk := fh.read(1 << 20):
                copy.write(chunk)
        conn.commit()
        return time.perf_counter() - start


SCHEMA = {
    "doc_ref": pl.String,
    "order_ts": pl.Datetime("us"),
    "customer_code": pl.String,
    "product_key": pl.String,
    "product_label": pl.String,
    "quantity": pl.Decimal(18, 4),
    "unit_price": pl.Decimal(18, 4),
    "country": pl.String,
}


def client_copy(conninfo: str, path: Path) -> float:
    """Polars reads the CSV with the typed schema, ADBC binary-COPYs it (no checks, no key)."""
    with psycopg.connect(conninfo) as conn:
        conn.execute(BARE_TABLE.replace("bench_bare", "bench_client"))
        conn.commit()
    with adbc.connect(conninfo) as conn, conn.cursor() as cur:
        start = time.perf_counter()
        frame = pl.read_csv(path, schema=SCHEMA)
        rows = frame.to_arrow(compat_level=pl.CompatLevel.oldest())
        cur.adbc_ingest("bench_client", rows, mode="append")
        conn.commit()
        return time.perf_counter() - start


def pgcopy_copy(conninfo: str, path: Path) -> float:
    """The same with reco's binary COPY encoder instead of ADBC."""
    with psycopg.connect(conninfo) as conn:
        conn.execute(BARE_TABLE.replace("bench_bare", "bench_pgcopy"))
        conn.commit()
        start = time.perf_counter()
        with conn.cursor() as cur:
            pgcopy.copy_frame(cur, "bench_pgcopy", pl.read_csv(path, schema=SCHEMA))
        conn.commit()
        return time.perf_counter() - start


def server_floor(conninfo: str) -> tuple[float, float]:
    """(COPY, indexes) seconds of landing the already-encoded rows of raw.sales_line again."""
    with psycopg.connect(conninfo) as conn, conn.cursor() as cur:
        data = bytearray()
        with cur.copy("copy raw.sales_line to stdout (format binary)") as copy:
            for block in copy:
                data += block
        cur.execute("create table bench_floor (like raw.sales_line including defaults)")
        conn.commit()
        start = time.perf_counter()
        with cur.copy("copy bench_floor from stdin (format binary)") as copy:
            view = memoryview(data)
            for k in range(0, len(view), 1 << 20):
                copy.write(view[k : k + (1 << 20)])
        copied = time.perf_counter()
        cur.execute("set local maintenance_work_mem = '256MB'")  # as the load's rebuild
        cur.execute("alter table bench_floor add primary key (id)")
        cur.execute("alter table bench_floor add unique (line_key)")
        conn.commit()
        return copied - start, time.perf_counter() - copied


def child_load(database: str, path: Path) -> None:
    """In a child process (so that its peak memory is the load's own): load the file, print
    the seconds and counts as JSON."""
    db = resolve().for_database(database)
    rss = Path("/proc/self/status").read_text().split("VmRSS:")[1].split()[0]
    cpu = time.process_time()
    start = time.perf_counter()
    report = load_files(db, "sales", [path])
    seconds = time.perf_counter() - start
    result = {
        "seconds": seconds,
        "parse_seconds": sum(f.seconds for f in report.files),
        "loaded": report.loaded,
        "cpu_seconds": time.process_time() - cpu,
        "rss_before_mb": int(rss) / 1024,
    }
    print(json.dumps(result))


def measured_load(database: str, path: Path) -> dict:
    """``child_load`` in a child process, with its peak resident memory: run through
    bench/scale.py's ``--wrap`` (wait4's rusage of that one process)."""
    scale = Path(__file__).with_name("scale.py")
    child = [sys.executable, __file__, "--child-load", database, str(path)]
    proc = subprocess.run(
        [sys.executable, str(scale), "--wrap", "--", *child], stdout=subprocess.PIPE, text=True, check=False
    )
    if proc.returncode:
        raise SystemExit(f"the load failed (exit {proc.returncode})")
    lines = proc.stdout.strip().splitlines()
    return json.loads(lines[-2]) | json.loads(lines[-1])


def peak_at(server, lines: int) -> dict:
    """The load of an N-line file into a fresh database: its seconds and peak memory."""
    name = f"reco_bench_{uuid.uuid4().hex[:8]}"
    admin = server.for_database("postgres")
    with psycopg.connect(admin.conninfo(), autocommit=True) as conn:
        conn.execute(f'create database "{name}"')
    try:
        migrate.upgrade(server.for_database(name))
        with tempfile.TemporaryDirectory() as tmp:
            path = Path(tmp) / "sales.csv"
            write_csv(path, lines)
            return measured_load(name, path) | {"mb": path.stat().st_size / 1e6}
    finally:
        with psycopg.connect(admin.conninfo(), autocommit=True) as conn:
            conn.execute(f'drop database if exists "{name}" with (force)')


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rows", type=int, default=1_000_000)
    parser.add_argument(
        "--lines",
        type=int,
        action="append",
        default=[],
        help="also load N lines (repeatable, e.g. 10000000) and print its seconds and peak memory",
    )
    parser.add_argument("--child-load", nargs=2, metavar=("DATABASE", "CSV"), help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.child_load:
        child_load(args.child_load[0], Path(args.child_load[1]))
        return
    console = Console(width=150)
    load_before = os.getloadavg()
    server = resolve()
    name = f"reco_bench_{uuid.uuid4().hex[:8]}"
    admin = server.for_database("postgres")
    with psycopg.connect(admin.conninfo(), autocommit=True) as conn:
        conn.execute(f'create database "{name}"')
    db = server.for_database(name)
    try:
        migrate.upgrade(db)
        with tempfile.TemporaryDirectory() as tmp:
            path = Path(tmp) / "sales.csv"
            t0 = time.perf_counter()
            write_csv(path, args.rows)
            console.print(
                f"wrote {args.rows:,} lines ({path.stat().st_size / 1e6:.0f} MB) "
                f"in {time.perf_counter() - t0:.1f} s; server {db.masked}"
            )
            copy_s = bare_copy(db.conninfo(), path)
            client_s = client_copy(db.conninfo(), path)
            pgcopy_s = pgcopy_copy(db.conninfo(), path)
            load = measured_load(name, path)
            load_s, parse_s, loaded = load["seconds"], load["parse_seconds"], load["loaded"]
        floor_copy_s, floor_index_s = server_floor(db.conninfo())
        floor_s = floor_copy_s + floor_index_s
        table = Table(title=f"reco load sales: {args.rows:,} CSV lines")
        for col in ("step", "rows", "seconds", "rows/s", "× bare COPY", "× server alone"):
            table.add_column(col, justify="right" if col != "step" else "left")

        def row(step: str, n: int | None, seconds: float) -> None:
            rate = f"{n / seconds:,.0f}" if n else ""
            ratios = (f"{seconds / copy_s:.2f}", f"{seconds / floor_s:.2f}")
            table.add_row(step, f"{n:,}" if n else "", f"{seconds:.2f}", rate, *ratios)

        row("bare COPY, unindexed table (reference)", args.rows, copy_s)
        row("Polars read + binary COPY, same 8 columns, no checks", args.rows, client_s)
        row("  the same with reco's binary COPY encoder (pgcopy)", args.rows, pgcopy_s)
        row("reco load sales (validate, key, land, rejects; streamed)", loaded, load_s)
        row("  of which the producer's busy time: read, type, validate, line_key", None, parse_s)
        row("server alone: the landed row pre-encoded, COPY + its 2 indexes (floor)", loaded, floor_s)
        row("  of which COPY (17 columns, no client work)", None, floor_copy_s)
        row("  of which primary key + unique line_key", None, floor_index_s)
        console.print(table)
        console.print(
            f"load: peak memory {load['peak_rss_mb']:,.0f} MB resident "
            f"({load['rss_before_mb']:,.0f} MB before the load, with the libraries); "
            f"{load['cpu_seconds']:.2f} CPU-s in the client process (all its threads)"
        )
        for n in args.lines:
            more = peak_at(server, n)
            console.print(
                f"load of {n:,} lines ({more['mb']:,.0f} MB): {more['seconds']:.2f} s, peak memory "
                f"{more['peak_rss_mb']:,.0f} MB resident "
                f"(at {args.rows:,} lines: {load['peak_rss_mb']:,.0f} MB)"
            )
        ratio = load_s / floor_s
        console.print(
            f"target load ≤ 1.5 × server alone: {ratio:.2f} × ({'met' if ratio <= 1.5 else 'NOT met'}); "
            f"load averages {' '.join(f'{x:.2f}' for x in load_before)} → "
            f"{' '.join(f'{x:.2f}' for x in os.getloadavg())} (2 cores)"
        )
    finally:
        with psycopg.connect(admin.conninfo(), autocommit=True) as conn:
            conn.execute(f'drop database if exists "{name}" with (force)')


if __name__ == "__main__":
    main()
