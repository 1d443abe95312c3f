"""Benchmark: generate the demo data at scale, against Polars just writing the same sales rows.

    uv run python bench/demo_data.py --customers 1000000

Prints one table: customers, sales lines, all rows, MB written, seconds to generate, the
reference (seconds for Polars to write a CSV of the same sales lines, read back from the
generated files, in the same run), the ratio, and the peak RSS of the generation.
"""

from __future__ import annotations

import argparse
import resource
import shutil
import tempfile
import time
from pathlib import Path

import polars as pl
from rich.console import Console
from rich.table import Table

from reco.demo_data import generate


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--customers", type=int, default=100_000)
    parser.add_argument("--seed", type=int, default=1)
    parser.add_argument(
        "--out", type=Path, help="output folder (default: a temporary one, removed)"
    )
    args = parser.parse_args()
    out = args.out or Path(tempfile.mkdtemp(prefix="reco_demo_bench_"))
    console = Console(width=150)
    try:
        t0 = time.perf_counter()
        manifest = generate(out / "demo", args.customers, args.seed)
        gen_s = time.perf_counter() - t0
        peak_mb = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
        size_mb = sum((out / "demo" / f.name).stat().st_size for f in manifest.files) / 1e6

        # Reference: the same sales lines, already in memory, written once by Polars.
        sales = [f for f in manifest.files if f.entity == "sales"]
        frame = pl.concat(
            [pl.read_csv(out / "demo" / f.name, separator=";", infer_schema=False) for f in sales]
        )
        t0 = time.perf_counter()
        frame.write_csv(out / "reference.csv", separator=";")
        ref_s = time.perf_counter() - t0
    finally:
        if args.out is None:
            shutil.rmtree(out, ignore_errors=True)

    table = Table(title="reco demo-data generation")
    columns = ("customers", "sales lines", "all rows", "MB written", "generate s",
               "reference s (write_csv)", "ratio", "peak RSS MB")  # fmt: skip
    for col in columns:
        table.add_column(col, justify="right")
    table.add_row(
        f"{manifest.customers:,}",
        f"{manifest.rows('sales'):,}",
        f"{sum(f.rows for f in manifest.files):,}",
        f"{size_mb:,.0f}",
        f"{gen_s:,.1f}",
        f"{ref_s:,.2f}",
        f"{gen_s / ref_s:,.1f}×",
        f"{peak_mb:,.0f}",
    )
    console.print(table)


if __name__ == "__main__":
    main()
