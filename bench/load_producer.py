"""Profile: the sales load's producer alone (no database): where its CPU goes per step.

One command:  uv run python bench/load_producer.py [--rows 1000000] [--runs 3]

Writes bench/load_sales.py's synthetic CSV, then, in one thread, runs what the streaming load's
producer thread runs (``reco.ingest.load._stream_sales``): ``read_file`` (sha256, the bytes cut
into blocks, the header), the first pass (``_File``: the blocks parsed, the whole-file facts,
the repetition check), then chunk by chunk the typing and checks and the line keys. Prints the
seconds of each step per run and the process's peak resident memory. A profile for comparing
two versions of the loader in the same conditions (run each alternately), not a benchmark
against a reference: bench/load_sales.py is that.
"""

from __future__ import annotations

import argparse
import os
import resource
import tempfile
import time
from pathlib import Path

from load_sales import write_csv

from reco.ingest.entities import entity
from reco.ingest.load import STREAM_ROWS, _File
from reco.ingest.mapping import load_mapping
from reco.ingest.parse import LineKeys
from reco.ingest.read import read_file


def run(path: Path) -> dict[str, float]:
    ent = entity("sales")
    mapping = load_mapping(None, ent)
    t0 = time.perf_counter()
    src = read_file(path)
    t1 = time.perf_counter()
    f = _File(src, 1, ent, mapping)
    t2 = time.perf_counter()
    keys = LineKeys()
    typing = keying = 0.0
    chunks = f.chunks(STREAM_ROWS)
    while True:
        a = time.perf_counter()
        lines = next(chunks, None)
        b = time.perf_counter()
        if lines is None:
            break
        lines.with_columns(keys(lines))
        typing, keying = typing + b - a, keying + time.perf_counter() - b
    f.parsed()
    return {
        "read (sha256, cut, header)": t1 - t0,
        "first pass": t2 - t1,
        "type and check": typing,
        "line keys": keying,
        "total": time.perf_counter() - t0,
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rows", type=int, default=1_000_000)
    parser.add_argument("--runs", type=int, default=3)
    args = parser.parse_args()
    print(f"load averages {' '.join(f'{x:.2f}' for x in os.getloadavg())}")
    with tempfile.TemporaryDirectory() as tmp:
        path = Path(tmp) / "sales.csv"
        write_csv(path, args.rows)
        for _ in range(args.runs):
            print("  ".join(f"{k} {v:.2f}" for k, v in run(path).items()))
    peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    print(f"peak resident {peak:,.0f} MB; load averages {' '.join(f'{x:.2f}' for x in os.getloadavg())}")


if __name__ == "__main__":
    main()
