"""Benchmark of the Spark path's I/O: ``reco load --parquet`` and ``reco score --marts parquet:``,
each against the PostgreSQL path on the same data, in the same run.

    uv run python bench/spark_io.py                          # 1 M sales lines, demo + 100,000 customers
    uv run python bench/spark_io.py --rows 200000 --customers 20000

1. load: ``bench/load_sales.py``'s CSV of N lines, loaded by ``load_files`` into a fresh
   database (the reference: sales lines into ``raw.sales_line``) and, into another fresh
   database, with ``parquet=`` (sales lines into a Parquet file only); each in a child process,
   with its peak resident memory.
2. score: ``run_scoring`` (read, score, write the run to PostgreSQL) with the marts read from
   PostgreSQL (the reference) and from their Parquet export (``export_parquet``, the layout
   Spark writes), each in a child process, on (a) the demo warehouse of the default database
   when it is built (``reco demo``) and (b) ``bench/score.py``'s generated marts at
   ``--customers`` customers.

Prints seconds, the ratio to the reference, the peak RSS, and the load averages before and after.
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
from datetime import date, timedelta
from pathlib import Path

import psycopg

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from reco.db import migrate  # noqa: E402
from reco.db.resolver import resolve  # noqa: E402


def _child(*args: str) -> dict:
    """``bench/spark_io.py ARGS`` in a child process: its JSON line, with its peak RSS."""
    proc = subprocess.Popen([sys.executable, __file__, *args], stdout=subprocess.PIPE, text=True)
    out = proc.stdout.read()
    _, status, usage = os.wait4(proc.pid, 0)
    if os.waitstatus_to_exitcode(status):
        sys.exit(f"bench step {args} failed")
    result = json.loads(out.strip().splitlines()[-1])
    result["peak_rss_mb"] = usage.ru_maxrss / 1024
    return result


def child_load(database: str, csv: str, parquet: str) -> None:
    from reco.ingest import LoadOptions, load_files

    db = resolve().for_database(database)
    start = time.perf_counter()
    report = load_files(db, "sales", [csv], LoadOptions(parquet=parquet or None))
    print(json.dumps({"seconds": time.perf_counter() - start, "loaded": report.loaded}))


def child_score(database: str, as_of: str, marts: str) -> None:
    from reco.scoring.runs import run_scoring

    db = resolve().for_database(database)
    start = time.perf_counter()
    summary = run_scoring(
        db, f"bench-{uuid.uuid4().hex[:8]}", as_of=date.fromisoformat(as_of), marts=marts or None
    )
    print(
        json.dumps(
            {
                "seconds": time.perf_counter() - start,
                "phases": summary.timings,
                "items": summary.counts["items"],
            }
        )
    )


def _fresh(server, name: str) -> None:
    with psycopg.connect(server.for_database("postgres").conninfo(), autocommit=True) as conn:
        conn.execute(f'drop database if exists "{name}" with (force)')
        conn.execute(f'create database "{name}"')


def _drop(server, name: str) -> None:
    with psycopg.connect(server.for_database("postgres").conninfo(), autocommit=True) as conn:
        conn.execute(f'drop database if exists "{name}" with (force)')


def _size(path: Path) -> int:
    return sum(p.stat().st_size for p in path.rglob("*") if p.is_file())


def bench_load(server, rows: int, tmp: Path) -> list[str]:
    from bench.load_sales import write_csv

    csv = tmp / "sales.csv"
    write_csv(csv, rows)
    out = []
    results = {}
    for kind in ("postgres", "parquet"):
        name = f"reco_bench_sio_{kind}"
        _fresh(server, name)
        migrate.upgrade(server.for_database(name))
        lake = tmp / "lake"
        results[kind] = _child("--child-load", name, str(csv), str(lake) if kind == "parquet" else "")
        if kind == "postgres":
            with psycopg.connect(server.for_database(name).conninfo()) as conn:
                results[kind]["bytes"] = conn.execute(
                    "select pg_total_relation_size('raw.sales_line')"
                ).fetchone()[0]
        else:
            results[kind]["bytes"] = _size(lake / "sales_line")
        _drop(server, name)
    ref = results["postgres"]["seconds"]
    out.append(f"## reco load sales, {rows:,} CSV lines ({csv.stat().st_size / 1e6:.0f} MB)")
    out.append("| landing | lines | seconds | × PostgreSQL landing | peak RSS MB | landed bytes |")
    out.append("|---|---|---|---|---|---|")
    for kind, label in (
        ("postgres", "raw.sales_line (reference)"),
        ("parquet", "--parquet (sales_line/*.parquet)"),
    ):
        r = results[kind]
        out.append(
            f"| {label} | {r['loaded']:,} | {r['seconds']:.2f} | {r['seconds'] / ref:.2f} |"
            f" {r['peak_rss_mb']:,.0f} | {r['bytes'] / 1e6:,.0f} MB |"
        )
    return out


def bench_score(server, database: str, as_of: date, tmp: Path, title: str) -> list[str]:
    from reco.scoring.inputs import MARTS_READ
    from reco.scoring.marts import export_parquet

    lake = tmp / f"marts-{database}"
    t = time.perf_counter()
    written = export_parquet(server.for_database(database), lake, list(MARTS_READ))
    export_s = time.perf_counter() - t
    results = {
        kind: _child(
            "--child-score", database, as_of.isoformat(), f"parquet:{lake}" if kind == "parquet" else ""
        )
        for kind in ("postgres", "parquet")
    }
    ref = results["postgres"]["seconds"]
    out = [
        f"## reco score, {title}: {written['order_line']:,} order lines, {written['customer']:,} customers"
        f" (Parquet export {export_s:.1f} s, {_size(lake) / 1e6:,.0f} MB, untimed)",
        "| marts read from | seconds | read | score | write | × PostgreSQL marts | peak RSS MB | items |",
        "|---|---|---|---|---|---|---|---|",
    ]
    for kind, label in (("postgres", "PostgreSQL (reference)"), ("parquet", "Parquet (--marts parquet:)")):
        r = results[kind]
        p = r["phases"]
        out.append(
            f"| {label} | {r['seconds']:.2f} | {p['read']:.2f} | {p['score']:.2f} | {p['write']:.2f} |"
            f" {r['seconds'] / ref:.2f} | {r['peak_rss_mb']:,.0f} | {r['items']:,} |"
        )
    if results["postgres"]["items"] != results["parquet"]["items"]:
        out.append("**items differ between the two runs**")
    return out


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rows", type=int, default=1_000_000, help="sales lines of the load bench")
    parser.add_argument("--customers", type=int, default=100_000, help="customers of the generated marts")
    parser.add_argument("--child-load", nargs=3, help=argparse.SUPPRESS)
    parser.add_argument("--child-score", nargs=3, help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.child_load:
        child_load(*args.child_load)
        return
    if args.child_score:
        child_score(*args.child_score)
        return
    load_before = os.getloadavg()
    server = resolve()
    lines: list[str] = []
    with tempfile.TemporaryDirectory() as tmp:
        lines += bench_load(server, args.rows, Path(tmp))
        with psycopg.connect(server.conninfo()) as conn:
            built = conn.execute("select to_regclass('marts.order_line') is not null").fetchone()[0]
            last = (
                conn.execute("select max(order_date) from marts.order_line").fetchone()[0] if built else None
            )
        if last is not None:
            lines += bench_score(
                server, server.url.database, last + timedelta(days=1), Path(tmp), "demo warehouse"
            )
        if args.customers:
            sys.path.insert(0, str(Path(__file__).resolve().parent))
            from bench.score import AS_OF, DB_NAME, prepare

            prepare(args.customers, 2_000)
            lines += bench_score(
                server, DB_NAME, AS_OF, Path(tmp), f"generated marts ({args.customers:,} customers)"
            )
            _drop(server, DB_NAME)
    averages = (" ".join(f"{x:.2f}" for x in pair) for pair in (load_before, os.getloadavg()))
    lines.append("load averages {} → {}".format(*averages))
    print("\n".join(lines))
    print("uptime: " + subprocess.run(["uptime"], capture_output=True, text=True).stdout.strip())


if __name__ == "__main__":
    main()
