"""A large catalogue: ``reco backtest --scenario-lists`` against a single ``reco score``.

    uv run python bench/large_catalogue.py                          # 32,000 households, 50,000 products
    uv run python bench/large_catalogue.py --households 3000 --products 6000   # quicker

In a RECO_HOME of its own (an embedded server, removed afterwards): ``reco demo-data --shape
grocery`` (a grocery chain's till lines: about 25 lines per household), ``reco load`` of the
three files, ``reco dbt build`` (not compared), then on that data, in this order:

- ``reco score --as-of C``: the reference, one scoring of every customer as of the cutoff;
- ``reco backtest --cutoff C --horizon-days 28 --scenario-lists --json``: the marts rebuilt as
  of C, the platform's scoring, each scenario's own list, SAR, TIFU-KNN and the other
  baselines, and the metrics.

C is four weeks before the last day. It prints each command's seconds and peak memory (the
``reco`` process and its children, from ``wait4``; the PostgreSQL server is not counted), the
backtest's own phases, the ratio backtest / score (target: at most 5) and ``uptime`` load
averages before and after. Results go to bench/RESULTS.md.
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import subprocess
import tempfile
import time
from datetime import date, timedelta
from pathlib import Path

from reco.demo_data.grocery import DEFAULT_END, LOAD_ORDER

TARGET = 5.0


def _reco(env: dict, *args: str) -> tuple[str, float, float]:
    """Run ``reco args``: its stdout, seconds and peak RSS in GiB (the process and the children
    it waited for, from ``wait4``)."""
    with tempfile.TemporaryFile("w+") as out, tempfile.TemporaryFile("w+") as err:
        t = time.perf_counter()
        proc = subprocess.Popen(["reco", *args], env=env, stdout=out, stderr=err, text=True)
        _, status, usage = os.wait4(proc.pid, 0)
        seconds = time.perf_counter() - t
        proc.returncode = os.waitstatus_to_exitcode(status)
        out.seek(0), err.seek(0)
        stdout = out.read()
        if proc.returncode != 0:
            raise SystemExit(f"reco {' '.join(args)} failed:\n{stdout}\n{err.read()}")
    return stdout, seconds, usage.ru_maxrss / 2**20


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--households", type=int, default=32_000)
    parser.add_argument("--products", type=int, default=50_000)
    parser.add_argument("--seed", type=int, default=42)
    args = parser.parse_args()

    home = Path(tempfile.mkdtemp(prefix="reco-bench-catalogue-"))
    env = {k: v for k, v in os.environ.items() if k != "DATABASE_URL"} | {"RECO_HOME": str(home)}
    data = home / "grocery"
    cutoff = DEFAULT_END - timedelta(days=28)
    load_before = os.getloadavg()
    rows: list[tuple[str, float, float]] = []
    try:
        _, s, _ = _reco(
            env,
            *("demo-data", "--shape", "grocery", "--customers", str(args.households)),
            *("--products", str(args.products), "--seed", str(args.seed), str(data)),
        )
        rows.append(("reco demo-data --shape grocery (setup)", s, float("nan")))
        _reco(env, "db", "init")
        for entity, name in LOAD_ORDER:
            _reco(
                env, "load", entity, str(data / name), "--mapping", str(data / name.replace(".csv", ".toml"))
            )
        _, s, rss = _reco(env, "dbt", "build")
        rows.append(("reco dbt build (setup)", s, rss))
        _, score_s, score_rss = _reco(env, "score", "--as-of", cutoff.isoformat(), "--json")
        rows.append((f"reco score --as-of {cutoff}", score_s, score_rss))
        out, back_s, back_rss = _reco(
            env,
            *(
                "backtest",
                "--cutoff",
                cutoff.isoformat(),
                "--horizon-days",
                "28",
                "--scenario-lists",
                "--json",
            ),
        )
        rows.append(("reco backtest --scenario-lists", back_s, back_rss))
        report = json.loads(out)
    finally:
        subprocess.run(["reco", "db", "stop"], env=env, capture_output=True)
        shutil.rmtree(home, ignore_errors=True)

    c = report["cutoffs"][0]
    print(
        f"large catalogue ({date.today()}): grocery shape, {args.households:,} households,"
        f" {args.products:,} products generated, {c['catalogue_size']:,} sold before the cutoff"
        f" {cutoff}; {c['n_customers_with_history']:,} customers with history,"
        f" {c['n_evaluated']:,} evaluated"
    )
    print("| command | seconds | peak RSS (GiB) |\n|---|---|---|")
    for name, seconds, rss in rows:
        print(f"| {name} | {seconds:.1f} | {rss:.2f} |")
    phases = ", ".join(f"{k} {v:.1f}" for k, v in c["seconds"].items())
    print(f"backtest phases (s): {phases}")
    ratio = back_s / score_s
    print(f"backtest / score = {ratio:.2f} (target <= {TARGET:g}: {'met' if ratio <= TARGET else 'MISSED'})")
    print(f"load averages: before {load_before}, after {os.getloadavg()}")


if __name__ == "__main__":
    main()
