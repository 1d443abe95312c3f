"""Arbitration with learning on campaigns of known lift, against knowing the lifts.

    uv run python bench/learning.py [--customers 20000] [--rounds 6] [--seeds 6]

Each round arbitrates by expected value with the incrementality learnt from the previous
rounds' control groups (tests/scoring/learning.py: the campaign simulator's response rule,
its default lifts). Printed per round, over the seeds: the regret against the same arbitration
knowing each scenario's true incrementality (the reference, measured in the same run), the
regret against the per-customer oracle, and the scenario shares. And ``uptime`` load.
"""

from __future__ import annotations

import argparse
import os
import statistics
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from reco.scoring.config import SCENARIOS  # noqa: E402
from tests.scoring.learning import TRUE_LIFTS, simulate  # noqa: E402


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--customers", type=int, default=20_000)
    parser.add_argument("--rounds", type=int, default=6)
    parser.add_argument("--seeds", type=int, default=6)
    args = parser.parse_args()
    runs = [simulate(args.customers, args.rounds, seed=s) for s in range(1, args.seeds + 1)]
    print(
        f"{args.customers:,} customers, {args.rounds} rounds, seeds 1..{args.seeds}; true lifts {TRUE_LIFTS}"
    )
    print(
        "| round | regret vs known lifts, mean [min, max] | regret vs oracle, mean | "
        + " | ".join(SCENARIOS)
        + " |"
    )
    print("|---" * (3 + len(SCENARIOS)) + "|")
    for r in range(args.rounds):
        regrets = [run[r].regret for run in runs]
        oracle = statistics.mean(run[r].regret_oracle for run in runs)
        shares = [statistics.mean(run[r].shares.get(s, 0.0) for run in runs) for s in SCENARIOS]
        print(
            f"| {r + 1} | {statistics.mean(regrets):.3f} [{min(regrets):.3f}, {max(regrets):.3f}]"
            f" | {oracle:.3f} | " + " | ".join(f"{x:.3f}" for x in shares) + " |"
        )
    print("load:", os.getloadavg())


if __name__ == "__main__":
    main()
