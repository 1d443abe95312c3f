"""The tables of docs/evaluation.md, "Results", in one command per data set.

    uv run python bench/evaluation.py online-retail \\
        --cutoffs 2010-06-01,2010-09-01,2011-03-01,2011-06-01,2011-09-01
    uv run python bench/evaluation.py demo --cutoffs 2026-02-01,2026-05-01,2026-08-01 \\
        --customers 10000 --seed 42
    uv run python bench/evaluation.py tables --data online-retail   # re-print from the saved JSON

Each data set has a database of its own on the resolved server:

- ``online-retail``: ``reco_bench_backtest``, shared with bench/backtest.py (the two exports
  loaded with ``reco load`` and the live warehouse built, once);
- ``demo``: ``reco_bench_evaluation_demo``, recreated at every run (the generator changes):
  ``reco demo-data --customers N --seed S`` generated, loaded and built as ``reco demo`` does
  (no scoring, no campaign).

Then, for each cutoff, one ``reco backtest --cutoff C --horizon-days 90 --scenario-lists
--tradeoff`` with the default configuration (truth from the live marts), its JSON saved to
``--out`` (``bench/out/evaluation/<data>-<cutoff>.json``) as soon as it ends, so a long series
can be resumed (``--skip-done``). At the end it prints the markdown tables of docs/evaluation.md
from every saved cutoff of the data set, and draws ``docs/evaluation-<data>.png`` (walk-forward)
and ``docs/evaluation-<data>-tradeoff.png`` (the trade-off curve). Heavy: run it under
``flock /tmp/reco-heavy.lock``.
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import sys
import tempfile
import time
from datetime import date
from pathlib import Path

import polars as pl

from reco.backtest import report as rep
from reco.backtest.evaluation import LIST_SCOPE, BacktestReport, CutoffResult
from reco.backtest.run import run_backtest

ROOT = Path(__file__).resolve().parents[1]
OUT = ROOT / "bench" / "out" / "evaluation"
HORIZON = 90
#: The bar of ../shared/ANCHORS.md per Online Retail II cutoff: the best repeat recommender's
#: hit@3 (REPEAT, GP-Pop, TIFU-KNN, UP-CF@r) and ALS's new-item hit@3 (already-bought excluded).
ANCHORS = {
    "2011-09-01": {"repeat": 0.666, "als": 0.234},
    "2011-06-01": {"repeat": 0.707},
}
#: the targets of issue 14: REBUY's own list ≥ 1.05× the best repeat baseline, CROSS_SELL's
#: and UPSELL's ≥ 1.1× the best discovery baseline on new-item hit@3
REBUY_TARGET, DISCOVERY_TARGET = 1.05, 1.10


def _online_retail_db():
    sys.path.insert(0, str(ROOT / "bench"))
    import backtest as bench_backtest  # bench/backtest.py: its database and its loading
    from rich.console import Console

    db = bench_backtest._database(None)
    bench_backtest._prepare(db, Console(stderr=True))
    return db


def _demo_db(customers: int, seed: int):
    from reco import demo
    from reco.db.engine import ensure_database, psycopg_connect
    from reco.db.resolver import resolve

    name = "reco_bench_evaluation_demo"
    db = resolve().for_database(name)
    with psycopg_connect(db.for_database("postgres"), autocommit=True) as conn:
        conn.execute(f'drop database if exists "{name}" with (force)')
    ensure_database(db)
    data = Path(tempfile.mkdtemp(prefix="reco-bench-evaluation-demo-"))
    try:
        _, steps = demo.plan(db, customers=customers, seed=seed, data_dir=data)
        for label, step in steps:
            if label.startswith("score"):
                break  # the warehouse is built: no scoring, no campaign
            print(f"demo data: {label}", file=sys.stderr)
            step()
    finally:
        shutil.rmtree(data, ignore_errors=True)
    return db


def _run(args) -> None:
    db = _online_retail_db() if args.data == "online-retail" else _demo_db(args.customers, args.seed)
    args.out.mkdir(parents=True, exist_ok=True)
    for cutoff in args.cutoffs:
        path = args.out / f"{args.data}-{cutoff}.json"
        if args.skip_done and path.exists():
            continue
        t0 = time.perf_counter()
        report = run_backtest(
            db,
            [cutoff],
            HORIZON,
            scenario_lists=True,
            tradeoff=True,
            progress=lambda msg: print(msg, file=sys.stderr, flush=True),
        )
        data = json.loads(rep.to_json(report))
        data["load_average"] = os.getloadavg()
        data["wall_seconds"] = round(time.perf_counter() - t0, 1)
        data["measured_on"] = date.today().isoformat()
        path.write_text(json.dumps(data, indent=1, default=str))
        print(f"{cutoff}: backtest {report.backtest_id}, {data['wall_seconds']} s -> {path}", file=sys.stderr)


# -- the tables ---------------------------------------------------------------------------


def _load(out: Path, data: str) -> list[dict]:
    runs = [json.loads(p.read_text()) for p in sorted(out.glob(f"{data}-*.json"))]
    return sorted(runs, key=lambda r: r["cutoffs"][0]["cutoff"])


def _rows(cut: dict) -> dict:
    return {(r["scope"], r["method"], r["metric"]): r for r in cut["results"]}


def _ci(row: dict | None, bold: bool = False) -> str:
    if not row or row.get("value") is None:
        return "–"
    v = f"{row['value']:.3f}"
    v = f"**{v}**" if bold else v
    return v + (f" [{row['ci_low']:.3f}, {row['ci_high']:.3f}]" if row.get("ci_low") is not None else "")


def _diff(row: dict | None) -> str:
    if not row or row.get("value") is None:
        return "–"
    return f"{row['value']:+.3f} [{row['ci_low']:+.3f}, {row['ci_high']:+.3f}]"


def _best(rows: dict, scope: str, metric: str, methods) -> str | None:
    present = [m for m in methods if (rows.get((scope, m, metric)) or {}).get("value") is not None]
    return max(present, key=lambda m: rows[(scope, m, metric)]["value"]) if present else None


def tables(runs: list[dict]) -> str:
    out = []
    ids = ", ".join(f"{r['cutoffs'][0]['cutoff']} `{r['backtest_id']}`" for r in runs)
    out.append(f"Backtests: {ids}.\n")

    out.append("**Overall** (hit@3 and new-item hit@3 with 95% intervals; the difference is paired):\n")
    out.append(
        "| cutoff | eligible | PLATFORM | REPEAT | TIFU-KNN | SAR | POP | PLATFORM − best baseline "
        "| PLATFORM new-item | SAR new-item | platform's mix |"
    )
    out.append("|---|---|---|---|---|---|---|---|---|---|---|")
    for r in runs:
        cut = r["cutoffs"][0]
        rows = _rows(cut)
        best = _best(rows, "overall", "hit", ("REPEAT", "TIFU-KNN", "SAR", "POP"))
        top = max(("PLATFORM", best), key=lambda m: (rows.get(("overall", m, "hit")) or {}).get("value") or 0)
        mix = sorted(
            (
                (s, v["n_customers"])
                for (s, m, metric), v in rows.items()
                if m == "PLATFORM" and metric == "hit" and s != "overall" and not s.startswith(LIST_SCOPE)
            ),
            key=lambda x: -x[1],
        )
        out.append(
            f"| {cut['cutoff']} | {cut['n_eligible']:,} | "
            + " | ".join(
                _ci(rows.get(("overall", m, "hit")), bold=m == top)
                for m in ("PLATFORM", "REPEAT", "TIFU-KNN", "SAR", "POP")
            )
            + f" | {_diff(rows.get(('overall', best, 'diff_hit')))} vs {best}"
            + f" | {_ci(rows.get(('overall', 'PLATFORM', 'new_item_hit')))}"
            + f" | {_ci(rows.get(('overall', 'SAR', 'new_item_hit')))}"
            + f" | {' · '.join(f'{s} {n:,}' for s, n in mix)} |"
        )

    out.append("\n**REBUY's own list** for every customer with history, against the best repeat baseline")
    out.append(f"(target ≥ {REBUY_TARGET}× the best of REPEAT, TIFU-KNN and ANCHORS.md):\n")
    out.append(
        "| cutoff | n | REBUY's list | REPEAT | TIFU-KNN | ANCHORS.md | target | met "
        "| list − best of REPEAT, TIFU-KNN |"
    )
    out.append("|---|---|---|---|---|---|---|---|---|")
    for r in runs:
        cut = r["cutoffs"][0]
        rows, scope = _rows(cut), LIST_SCOPE + "REBUY"
        mine = rows.get((scope, "PLATFORM", "hit"))
        if not mine:
            continue
        best = _best(rows, scope, "hit", ("REPEAT", "TIFU-KNN"))
        anchor = ANCHORS.get(cut["cutoff"], {}).get("repeat")
        bar = max(rows[(scope, best, "hit")]["value"], anchor or 0.0)
        target = REBUY_TARGET * bar
        out.append(
            f"| {cut['cutoff']} | {mine['n_customers']:,} | {_ci(mine)}"
            f" | {_ci(rows.get((scope, 'REPEAT', 'hit')))}"
            f" | {_ci(rows.get((scope, 'TIFU-KNN', 'hit')))} | {anchor if anchor else '–'} | ≥ {target:.3f}"
            f" | {'yes' if mine['value'] >= target else 'no'} ({mine['value'] / bar:.3f}×)"
            f" | {_diff(rows.get((scope, best, 'diff_hit')))} vs {best} |"
        )

    out.append("\n**CROSS_SELL's and UPSELL's own lists**, new-item hit@3 on the customers they cover")
    out.append(f"(target ≥ {DISCOVERY_TARGET}× SAR and the anchors' ALS):\n")
    out.append("| cutoff | list | n | the list | SAR | ALS (ANCHORS.md) | target | met | list − SAR |")
    out.append("|---|---|---|---|---|---|---|---|---|")
    for r in runs:
        cut = r["cutoffs"][0]
        rows = _rows(cut)
        for scenario in ("CROSS_SELL", "UPSELL"):
            scope = LIST_SCOPE + scenario
            mine = rows.get((scope, "PLATFORM", "new_item_hit"))
            if not mine or mine["value"] is None:
                out.append(f"| {cut['cutoff']} | {scenario} | 0 | nobody | | | | | |")
                continue
            als = ANCHORS.get(cut["cutoff"], {}).get("als")
            bar = max(rows[(scope, "SAR", "new_item_hit")]["value"], als or 0.0)
            target = DISCOVERY_TARGET * bar
            out.append(
                f"| {cut['cutoff']} | {scenario} | {mine['n_customers']:,} | {_ci(mine)}"
                f" | {_ci(rows.get((scope, 'SAR', 'new_item_hit')))} | {als if als else '–'} | ≥ {target:.3f}"
                f" | {'yes' if mine['value'] >= target else 'no'} ({mine['value'] / bar:.3f}×)"
                f" | {_diff(rows.get((scope, 'SAR', 'diff_new_item_hit')))} |"
            )

    out.append("\n**NURTURE's and WINBACK's own lists** against POP, hit@3:\n")
    out.append("| cutoff | list | n | the list | POP | REPEAT | list − POP |")
    out.append("|---|---|---|---|---|---|---|")
    for r in runs:
        cut = r["cutoffs"][0]
        rows = _rows(cut)
        for scenario in ("NURTURE", "WINBACK"):
            scope = LIST_SCOPE + scenario
            mine = rows.get((scope, "PLATFORM", "hit"))
            if not mine:
                out.append(f"| {cut['cutoff']} | {scenario} | 0 | nobody | | | |")
                continue
            out.append(
                f"| {cut['cutoff']} | {scenario} | {mine['n_customers']:,} | {_ci(mine)}"
                f" | {_ci(rows.get((scope, 'POP', 'hit')))} | {_ci(rows.get((scope, 'REPEAT', 'hit')))}"
                f" | {_diff(rows.get((scope, 'POP', 'diff_hit')))} |"
            )

    out.append("\n**The trade-off curve** (`--tradeoff`): the assignment at each REBUY incrementality prior,")
    out.append("the guard's fallback off (what it would have chosen in the last column):\n")
    out.append("| cutoff | point | hit@3 | new-item hit@3 | customers per scenario | guard |")
    out.append("|---|---|---|---|---|---|")
    for r in runs:
        cut = r["cutoffs"][0]
        for p in cut.get("tradeoff", []):
            if p["method"] == "RANDOM":
                continue
            name = p["method"] + (" (default)" if p["default"] else "")
            name += " (as run, guard on)" if p["method"] == "PLATFORM" else ""
            hit = {"value": p["hit"], "ci_low": p["hit_low"], "ci_high": p["hit_high"]}
            new = {
                "value": p["new_item_hit"],
                "ci_low": p["new_item_hit_low"],
                "ci_high": p["new_item_hit_high"],
            }
            out.append(
                f"| {cut['cutoff']} | {name} | {_ci(hit)} | {_ci(new)}"
                f" | {p['scenarios'] or ''} | {p['guard'] or ''} |"
            )
    loads = ", ".join(
        f"{r['cutoffs'][0]['cutoff']}: {r['load_average'][0]:.1f} ({r['wall_seconds']:.0f} s)" for r in runs
    )
    out.append(
        f"\nMeasured {runs[-1]['measured_on']}; 1-minute load average at the end of each run: {loads}."
    )
    return "\n".join(out)


def _as_report(runs: list[dict], title: str) -> BacktestReport:
    """The saved cutoffs as one report, for the charts."""
    report = BacktestReport(title, HORIZON, False)
    for r in runs:
        c = r["cutoffs"][0]
        report.cutoffs.append(
            CutoffResult(
                cutoff=date.fromisoformat(c["cutoff"]),
                horizon_days=HORIZON,
                n_history=c["n_customers_with_history"],
                n_eligible=c["n_eligible"],
                n_scored=c["n_scored"],
                n_population=c["n_evaluated"],
                catalogue_size=c["catalogue_size"],
                seconds=c["seconds"],
                table=pl.DataFrame(c["results"]).filter(~pl.col("metric").str.starts_with("diff_")),
                tradeoff=pl.DataFrame(c["tradeoff"]) if c.get("tradeoff") else None,
            )
        )
    return report


def _print_tables(out: Path, data: str, charts: Path | None) -> None:
    runs = _load(out, data)
    if not runs:
        raise SystemExit(f"no saved backtest of {data} in {out}")
    print(tables(runs))
    if charts is not None:
        report = _as_report(runs, f"{data}, {len(runs)} backtests")
        walk = rep.chart(report, charts / f"evaluation-{data}.png")
        curve = rep.tradeoff_chart(report, charts / f"evaluation-{data}-tradeoff.png")
        print(f"\ncharts: {walk}, {curve}", file=sys.stderr)


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("data", choices=("online-retail", "demo", "tables"))
    parser.add_argument("--cutoffs", type=lambda s: [date.fromisoformat(d) for d in s.split(",")], default=[])
    parser.add_argument("--customers", type=int, default=10_000)
    parser.add_argument("--seed", type=int, default=42)
    parser.add_argument("--out", type=Path, default=OUT)
    parser.add_argument("--skip-done", action="store_true", help="keep the cutoffs already saved in --out")
    parser.add_argument("--charts", type=Path, default=ROOT / "docs", help="where the PNGs go")
    parser.add_argument("--data", dest="which", default="online-retail", help="with `tables`: the data set")
    args = parser.parse_args()
    if args.data == "tables":
        _print_tables(args.out, args.which, args.charts)
        return
    if not args.cutoffs:
        parser.error("give --cutoffs")
    _run(args)
    _print_tables(args.out, args.data, args.charts)


if __name__ == "__main__":
    main()
