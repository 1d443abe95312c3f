"""The platform against its baselines on the grocery-shaped retailer, through the real CLI.

    uv run python bench/grocery_backtest.py                       # 3,000 households, 6,000 products
    uv run python bench/grocery_backtest.py --households 32000 --products 23000

In a RECO_HOME of its own (an embedded server, removed afterwards): ``reco demo-data --shape
grocery``, ``reco load`` of the three files with the mappings written beside them, ``reco dbt
build``, then ``reco backtest --cutoff C --horizon-days 28 --scenario-lists --json`` with the
cutoff four weeks before the last day (the real grocery chain's protocol: a 28-day window). It
prints hit@3 and new-item hit@3 with their 95% intervals for the platform and every baseline,
the scenario mix, the verdicts, and ``uptime`` load. The figures go to docs/evaluation.md.
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import subprocess
import tempfile
from datetime import date, timedelta
from pathlib import Path

from reco.demo_data.grocery import DEFAULT_END, LOAD_ORDER


def _reco(env: dict, *args: str) -> str:
    done = subprocess.run(["reco", *args], env=env, capture_output=True, text=True)
    if done.returncode != 0:
        raise SystemExit(f"reco {' '.join(args)} failed:\n{done.stdout}\n{done.stderr}")
    return done.stdout


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--households", type=int, default=3_000)
    parser.add_argument("--products", type=int, default=6_000)
    parser.add_argument("--seed", type=int, default=42)
    args = parser.parse_args()

    home = Path(tempfile.mkdtemp(prefix="reco-bench-grocery-"))
    env = {k: v for k, v in os.environ.items() if k != "DATABASE_URL"} | {"RECO_HOME": str(home)}
    data = home / "grocery"
    cutoff = DEFAULT_END - timedelta(days=28)
    try:
        _reco(env, "demo-data", "--shape", "grocery", "--customers", str(args.households),
              "--products", str(args.products), "--seed", str(args.seed), str(data))
        _reco(env, "db", "init")
        for entity, name in LOAD_ORDER:
            _reco(env, "load", entity, str(data / name), "--mapping", str(data / name.replace(".csv", ".toml")))
        _reco(env, "dbt", "build")
        report = json.loads(
            _reco(env, "backtest", "--cutoff", cutoff.isoformat(), "--horizon-days", "28", "--scenario-lists", "--json")
        )
    finally:
        subprocess.run(["reco", "db", "stop"], env=env, capture_output=True)
        shutil.rmtree(home, ignore_errors=True)

    c = report["cutoffs"][0]
    print(f"grocery shape: {args.households:,} households, {args.products:,} products, seed {args.seed};"
          f" cutoff {cutoff}, 28 days; {c['n_evaluated']:,} customers evaluated ({date.today()})")
    rows = {(r["scope"], r["method"], r["metric"]): r for r in c["results"]}
    print("| method | hit@3 [95% CI] | new-item hit@3 [95% CI] |\n|---|---|---|")
    for method in ("PLATFORM", "REPEAT", "TIFU-KNN", "SAR", "POP", "RANDOM"):
        cells = []
        for metric in ("hit", "new_item_hit"):
            r = rows.get(("overall", method, metric))
            cells.append(f"{r['value']:.3f} [{r['ci_low']:.3f}, {r['ci_high']:.3f}]" if r else "–")
        print(f"| {method} | {cells[0]} | {cells[1]} |")
    mix = {s: r["n_customers"] for (s, m, metric), r in rows.items() if m == "PLATFORM" and metric == "hit"}
    print("customers evaluated per scope:", json.dumps(mix))
    for v in c["verdicts"]:
        print(f"- {v['comparison']} ({v['metric']}, n {v['n_customers']}): {v['platform']:.3f}"
              f" vs {v['baseline']} {v['baseline_value']:.3f}: {v['verdict']}")
    print("load:", os.getloadavg())


if __name__ == "__main__":
    main()
