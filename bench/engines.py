"""Benchmark: the same dbt build on Apache Spark (dbt-spark, local session) and on PostgreSQL.

One command:

    uv run python bench/engines.py                       # the demo data, 5,000 customers
    uv run python bench/engines.py --customers 300       # the size of the equality test
    uv run python bench/engines.py --lines 10000000      # bench/dbt_build.py's raw data, 10 M lines

Without ``--lines``: loads the demo wine merchant (as ``reco demo`` does: loads, build, score,
campaign) into a scratch database of the resolved server (the embedded one unless DATABASE_URL
says otherwise). With ``--lines N``: a scratch database copied from bench/dbt_build.py's cached
raw data of N lines (``_template``: generated in SQL once per size, N / 10 customers, 3,000
products; 10 M lines take a few minutes the first time).

Then it writes the database's source tables as the Parquet folders Spark's sources read, with
the production code: the raw tables as ``reco load --parquet`` lands them
(``reco.ingest.parquet.export_landed``: ``<root>/<table>/<batch>.parquet``) and the reco tables
as ``reco export-sources`` writes them (``export_sources``: ``<root>/reco/<table>/``), and times
a full ``dbt build`` (seeds, models, data tests, unit tests) on each engine from the same rows.
The reference, measured in the same run, is the PostgreSQL build; the ratio is Spark over
PostgreSQL. Spark's time includes starting its JVM (one ``dbt`` process per build). For each
build: the peak resident memory of its process tree (the dbt process and, on Spark, its JVM),
sampled every 0.2 s, and the JVM's own peak (its ``VmHWM``). Then the rows of every mart on
both engines, side by side (PostgreSQL's table or view, Spark's Parquet folder). Prints
``uptime`` before and after. Spark's settings: ``RECO_SPARK_DRIVER_MEMORY`` and
``RECO_SPARK_SHUFFLE_PARTITIONS`` (profiles.yml). The scratch database and folders are removed.
"""

from __future__ import annotations

import contextlib
import os
import subprocess
import sys
import tempfile
import threading
import time
import uuid
from pathlib import Path
from typing import Annotated

import polars as pl
import psycopg
import typer

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from reco.db.resolver import resolve  # noqa: E402
from reco.dbt.runner import run_dbt  # noqa: E402
from reco.ingest.parquet import export_landed, export_sources  # noqa: E402


def _uptime() -> str:
    return subprocess.run(["uptime"], capture_output=True, text=True).stdout.strip()


def _status(pid: int) -> dict[str, str]:
    try:
        text = Path(f"/proc/{pid}/status").read_text()
    except OSError:
        return {}
    return dict(line.split(":\t", 1) for line in text.splitlines() if ":\t" in line)


def _kb(value: str | None) -> int:
    return int(value.split()[0]) if value else 0


def _descendants(pid: int) -> list[int]:
    out, todo = [], [pid]
    while todo:
        p = todo.pop()
        for task in Path(f"/proc/{p}/task").glob("*"):
            try:
                children = (task / "children").read_text().split()
            except OSError:
                continue
            for child in map(int, children):
                out.append(child)
                todo.append(child)
    return out


class PeakMemory:
    """The peak resident memory of this process's descendants while the block runs: their
    summed RSS sampled every ``every`` seconds, and each one's own peak (``VmHWM``, exact)."""

    def __init__(self, every: float = 0.2) -> None:
        self.every, self.tree_kb, self.own_kb, self.heaps = every, 0, {}, {}
        self._stop = threading.Event()

    def _sample(self) -> None:
        while not self._stop.is_set():
            total = 0
            for pid in set(_descendants(os.getpid())):
                status = _status(pid)
                total += _kb(status.get("VmRSS"))
                name = status.get("Name", "?")
                self.own_kb[(pid, name)] = max(self.own_kb.get((pid, name), 0), _kb(status.get("VmHWM")))
                if name == "java" and (pid, name) not in self.heaps:
                    with contextlib.suppress(OSError):
                        args = Path(f"/proc/{pid}/cmdline").read_bytes().split(b"\0")
                        self.heaps[(pid, name)] = " ".join(a.decode() for a in args if a.startswith(b"-Xmx"))
            self.tree_kb = max(self.tree_kb, total)
            self._stop.wait(self.every)

    def __enter__(self) -> PeakMemory:
        self._thread = threading.Thread(target=self._sample, daemon=True)
        self._thread.start()
        return self

    def __exit__(self, *exc) -> None:
        self._stop.set()
        self._thread.join()

    def largest(self) -> tuple[str, int]:
        """The descendant with the largest own peak: (name, kB)."""
        (_, name), kb = max(self.own_kb.items(), key=lambda kv: kv[1], default=((0, "-"), 0))
        return name, kb

    def each(self) -> str:
        """Every descendant's own peak, largest first: "java 5,950, python 210 …" (MB)."""
        peaks = sorted(self.own_kb.items(), key=lambda kv: -kv[1])
        return ", ".join(f"{name} {kb / 1024:,.0f}" for (_, name), kb in peaks if kb >= 10 * 1024)

    @property
    def heap(self) -> str:
        """The ``-Xmx`` of the largest JVM (spark-submit's launcher is a small JVM of its own)."""
        jvms = [key for key in self.own_kb if key in self.heaps]
        return self.heaps[max(jvms, key=self.own_kb.get)] if jvms else ""


def _timed_build(db, args: list[str]) -> tuple[float, PeakMemory]:
    with PeakMemory() as peak:
        started = time.perf_counter()
        run_dbt(db, args, capture=True)
        seconds = time.perf_counter() - started
    return seconds, peak


def _postgres_marts(db, names: list[str]) -> dict[str, int]:
    with psycopg.connect(db.conninfo()) as conn:
        return {n: conn.execute(f'select count(*) from marts."{n}"').fetchone()[0] for n in names}


def _spark_marts(folder: Path) -> dict[str, int]:
    out = {}
    for mart in sorted(p for p in folder.iterdir() if p.is_dir()):
        files = sorted(mart.glob("*.parquet"))
        out[mart.name] = pl.scan_parquet(files).select(pl.len()).collect().item() if files else 0
    return out


def _demo(db, root: Path, customers: int) -> str:
    from reco.demo import plan

    _, steps = plan(db, customers=customers, data_dir=root / "exports")
    for _, step in steps:
        step()
    return f"demo data: {customers:,} customers"


def _generated(server, name: str, lines: int) -> str:
    from bench.dbt_build import _template

    template, gen_s = _template(server, lines, lines // 10, 3000)
    with psycopg.connect(server.for_database("postgres").conninfo(), autocommit=True) as conn:
        conn.execute(f'create database "{name}" template "{template}"')
    how = f"generated in {gen_s:.0f} s now" if gen_s else "cached"
    return f"bench/dbt_build.py's raw data ({template}, {how}): {lines // 10:,} customers, 3,000 products"


def main(
    customers: Annotated[int, typer.Option(help="Customers in the demo exports.")] = 5000,
    lines: Annotated[
        int | None,
        typer.Option(help="Sales lines of bench/dbt_build.py's generated raw data, instead of the demo."),
    ] = None,
) -> None:
    print(f"start: {_uptime()}")
    server = resolve()
    admin = server.for_database("postgres")
    name = f"bench_engines_{uuid.uuid4().hex[:8]}"
    db = admin.for_database(name)
    root = Path(tempfile.mkdtemp(prefix="bench-engines-"))
    try:
        if lines is None:
            with psycopg.connect(admin.conninfo(), autocommit=True) as conn:
                conn.execute(f'create database "{name}"')
            what = _demo(db, root, customers)
        else:
            what = _generated(server, name, lines)
        started = time.perf_counter()
        counts = {**export_landed(db, root / "raw"), **export_sources(db, root / "raw")}
        export_s = time.perf_counter() - started
        parquet_mb = sum(p.stat().st_size for p in (root / "raw").rglob("*.parquet")) / 1e6
        print(
            f"{what}; {counts['raw.sales_line']:,} sales lines, {counts['raw.customer']:,} customer rows,"
            f" {counts['raw.product']:,} products; Parquet sources written in {export_s:.1f} s"
            f" ({parquet_mb:,.0f} MB; export_landed + export_sources, untimed below)"
        )

        postgres_s, pg_peak = _timed_build(db, ["build"])
        print(f"PostgreSQL dbt build: {postgres_s:.1f} s ({_uptime()})", flush=True)
        os.environ.update(
            RECO_RAW_PARQUET=str(root / "raw"),
            RECO_SPARK_HOME=str(root / "spark"),
            RECO_SPARK_MARTS=str(root / "marts"),
        )
        settings = {
            k: os.environ.get(k, "(profiles.yml default)")
            for k in ("RECO_SPARK_MASTER", "RECO_SPARK_DRIVER_MEMORY", "RECO_SPARK_SHUFFLE_PARTITIONS")
        }
        print(f"Spark settings: {settings}", flush=True)
        spark_s, spark_peak = _timed_build(db, ["build", "--target", "spark"])
        print(f"Spark dbt build: {spark_s:.1f} s, JVM {spark_peak.heap or '?'} ({_uptime()})", flush=True)

        print("| engine | dbt build, s | × PostgreSQL | peak RSS of the build's processes, MB | largest |")
        print("|---|---|---|---|---|")
        for label, seconds, peak in (
            ("PostgreSQL (embedded, reference)", postgres_s, pg_peak),
            ("Spark (local session)", spark_s, spark_peak),
        ):
            proc, kb = peak.largest()
            print(
                f"| {label} | {seconds:.1f} | {seconds / postgres_s:.2f} | {peak.tree_kb / 1024:,.0f} |"
                f" {proc} {kb / 1024:,.0f} |"
            )
        print(
            f"each process's own peak (VmHWM, MB, ≥ 10): PostgreSQL build {pg_peak.each()};"
            f" Spark build {spark_peak.each()}"
        )
        print("(PostgreSQL's server processes are not the build's: its memory is not in the figure)")

        spark = _spark_marts(root / "marts")
        postgres = _postgres_marts(db, list(spark))
        print("| mart | PostgreSQL rows | Spark rows | |")
        print("|---|---|---|---|")
        for mart, n in spark.items():
            print(f"| {mart} | {postgres[mart]:,} | {n:,} | {'equal' if postgres[mart] == n else 'DIFFER'} |")
        differ = [m for m in spark if postgres[m] != spark[m]]
        print(f"marts: {len(spark)}, rows differ in {len(differ)}: {', '.join(differ) or 'none'}")
    finally:
        with psycopg.connect(admin.conninfo(), autocommit=True) as conn:
            conn.execute(f'drop database if exists "{name}" with (force)')
        subprocess.run(["rm", "-rf", str(root)], check=False)
        print(f"end: {_uptime()}")


if __name__ == "__main__":
    typer.run(main)
