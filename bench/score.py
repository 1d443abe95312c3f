"""Benchmark of ``reco score``: N customers against P products on generated mart data.

    uv run python bench/score.py                      # 1,000,000 and 250,000 customers
    uv run python bench/score.py --customers 100000   # quicker

For each size, marts are generated and written first (not timed); then a fresh process runs
``run_scoring`` (read + score + write, timed) and, in the same process, the reference: reading
the inputs alone and writing the same outputs alone (into tables emptied of the run's rows,
as the run found them). Targets: total <= 3 x (read + write),
peak RSS <= 4 GiB, time linear in customers. Uses DATABASE_URL, else the embedded server; it
works in a database of its own (``reco_bench_score``), dropped at the end.
"""

from __future__ import annotations

import argparse
import json
import os
import resource
import subprocess
import sys
import time
from datetime import date

AS_OF = date(2026, 1, 1)
DB_NAME = "reco_bench_score"


def _db():
    import psycopg

    from reco.db.resolver import resolve

    base = resolve(os.environ.get("DATABASE_URL"))
    return base, base.for_database(DB_NAME), psycopg


def prepare(customers: int, products: int) -> dict:
    from reco.db import migrate
    from tests.support.synthetic_marts import Shape, generate_marts, write_marts

    base, db, psycopg = _db()
    with psycopg.connect(base.for_database("postgres").conninfo(), autocommit=True) as conn:
        conn.execute(f'drop database if exists "{DB_NAME}" with (force)')
        conn.execute(f'create database "{DB_NAME}"')
    migrate.upgrade(db)
    frames = generate_marts(Shape(n_customers=customers, n_products=products), seed=42, as_of=AS_OF)
    write_marts(db, frames)
    return {k: v.height for k, v in frames.items()}


def measure(db_name: str = DB_NAME, as_of: date = AS_OF) -> dict:
    """The run, then its I/O alone, on ``db_name`` (bench/scale.py uses it on its warehouse)."""
    from reco.scoring.inputs import read_inputs
    from reco.scoring.runs import _pg, _start, run_scoring, write_result

    base, _, _ = _db()
    db = base.for_database(db_name)
    t, cpu = time.perf_counter(), time.process_time()
    summary = run_scoring(db, "bench", as_of=as_of)
    total, cpu = time.perf_counter() - t, time.process_time() - cpu
    # the reference, same process and data: read alone, then write the same output alone, into
    # tables as empty as the run found them (the run's rows deleted and vacuumed, untimed)
    t = time.perf_counter()
    read_inputs(db, as_of=as_of)
    read_s = time.perf_counter() - t
    with _pg(db) as conn:
        conn.execute("delete from reco.reco_item where run_id = 'bench'")
        conn.execute("delete from reco.audit_item where run_id = 'bench'")
        conn.execute("delete from reco.run_customer where run_id = 'bench'")
        conn.execute("vacuum reco.reco_item, reco.audit_item")
        _start(conn, "io-reference", as_of, {}, replace=True)
    t = time.perf_counter()
    write_result(db, "io-reference", summary.result, summary.fingerprint, summary.groups)
    write_s = time.perf_counter() - t
    return {
        "total_s": total,
        "cpu_s": cpu,
        "phases": summary.timings,
        "read_s": read_s,
        "write_s": write_s,
        "items": summary.counts["items"],
        "audits": summary.result.audits.height,
        "eligible": summary.counts["eligible"],
        "peak_rss_gib": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 2**20,
    }


def _child(*args: str) -> dict:
    out = subprocess.run([sys.executable, __file__, *args], capture_output=True, text=True, check=False)
    if out.returncode:
        sys.exit(f"bench step {args} failed:\n{out.stderr[-3000:]}")
    return json.loads(out.stdout.strip().splitlines()[-1])


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--customers", type=int, default=1_000_000)
    parser.add_argument("--products", type=int, default=2_000)
    parser.add_argument("--step", choices=["prepare", "measure"], help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.step == "prepare":
        print(json.dumps(prepare(args.customers, args.products)))
        return
    if args.step == "measure":
        print(json.dumps(measure()))
        return
    load_start = os.getloadavg()
    rows = []
    for n in sorted({args.customers // 4, args.customers}):
        sizes = _child("--step", "prepare", "--customers", str(n), "--products", str(args.products))
        m = _child("--step", "measure")
        rows.append((n, sizes, m))
    base, db, psycopg = _db()
    with psycopg.connect(base.for_database("postgres").conninfo(), autocommit=True) as conn:
        conn.execute(f'drop database if exists "{DB_NAME}" with (force)')

    print(f"\nreco score benchmark: {args.products:,} products, as_of {AS_OF}")
    head = (
        "customers",
        "order lines",
        "items",
        "audits",
        "total s",
        "read s",
        "score s",
        "write s",
        "ref read+write s",
        "total/ref",
        "run CPU s",
        "peak RSS GiB",
        "s per 1M cust",
    )
    print(" | ".join(head))
    for n, sizes, m in rows:
        ref = m["read_s"] + m["write_s"]
        cells = (
            f"{n:,}",
            f"{sizes['order_line']:,}",
            f"{m['items']:,}",
            f"{m['audits']:,}",
            f"{m['total_s']:.1f}",
            f"{m['phases']['read']:.1f}",
            f"{m['phases']['score']:.1f}",
            f"{m['phases']['write']:.1f}",
            f"{ref:.1f}",
            f"{m['total_s'] / ref:.2f}",
            f"{m['cpu_s']:.1f}",
            f"{m['peak_rss_gib']:.2f}",
            f"{m['total_s'] / n * 1e6:.1f}",
        )
        print(" | ".join(cells))
    print(
        "load average (1, 5, 15 min) at the start: "
        + " ".join(f"{x:.2f}" for x in load_start)
        + ", at the end: "
        + " ".join(f"{x:.2f}" for x in os.getloadavg())
    )
    print("run CPU s: this process's CPU time during the run (2 cores; less load-sensitive than wall)")
    print("targets: total/ref <= 3.00, peak RSS <= 4 GiB, s per 1M customers about constant (linear)")


if __name__ == "__main__":
    main()
