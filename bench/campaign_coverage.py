"""Coverage of the uplift report's 95% intervals, on the campaign simulator's known truth.

    uv run python bench/campaign_coverage.py                 # 500 seeds, a synthetic run
    uv run python bench/campaign_coverage.py --seeds 1000 --run-id ID   # a run already recorded

The population is one scored run, read once from PostgreSQL: by default a run of its own
(``reco_bench_campaign`` database: the scorer's synthetic marts, 5,000 customers, scored with a
10% control group, exported and recorded, then dropped), or ``--run-id``, a run of the resolved
database whose contacts are recorded (e.g. the demo's). Then, for each seed, in memory:

1. the run's control group is drawn again, per scenario, with the run's own group sizes (the
   design the intervals assume); a treated customer is contacted as the run contacted them, and
   a customer who was a control in the run is contacted, if treated, with the share of its
   scenario's treated customers the run contacted (one draw, fixed across seeds);
2. every customer's period is drawn from the response model (reco.demo_data.campaign) with the
   lifts given (default: the simulator's), and the true uplift of each scenario computed from
   the model's probabilities, as ``campaign_truth.json`` holds it;
3. ``reco.campaign.uplift.compare(outcomes, by=["scenario"])`` (and overall) gives the 95%
   intervals; a seed covers when ``abs_low <= truth <= abs_high``.

It prints, per scenario and metric (conversion, revenue per customer), the coverage with a 95%
Wilson interval on it: the reference is the nominal 95%. Also the median interval width, the
share of comparisons flagged under-powered, how many seeds gave no interval at all (counted as
not covering; the report withholds an interval it cannot trust, e.g. revenue with heavy tails),
the coverage of the intervals it did give ("where given"), and ``uptime`` load.
"""

from __future__ import annotations

import argparse
import os
import subprocess
import tempfile
import time
from datetime import date
from pathlib import Path

import numpy as np
import polars as pl

DB_NAME = "reco_bench_campaign"
AS_OF = date(2026, 1, 1)
METRICS = {"conversion": "conversion_abs_uplift", "revenue_per_customer": "revenue_per_customer_abs_uplift"}


def _synthetic_run(customers: int):
    """A scored, exported and recorded run in a database of its own; returns (db, run_id, drop)."""
    import psycopg

    from reco.campaign.contacts import record_contacts
    from reco.campaign.export import export_run
    from reco.db import migrate
    from reco.db.resolver import resolve
    from reco.scoring import run_scoring
    from tests.support.synthetic_marts import Shape, generate_marts, write_marts

    base = resolve(os.environ.get("DATABASE_URL"))
    admin = base.for_database("postgres").conninfo()
    with psycopg.connect(admin, autocommit=True) as conn:
        conn.execute(f'drop database if exists "{DB_NAME}" with (force)')
        conn.execute(f'create database "{DB_NAME}"')

    def drop() -> None:
        with psycopg.connect(admin, autocommit=True) as conn:
            conn.execute(f'drop database if exists "{DB_NAME}" with (force)')

    db = base.for_database(DB_NAME)
    migrate.upgrade(db)
    write_marts(db, generate_marts(Shape(n_customers=customers, n_products=200), seed=42, as_of=AS_OF))
    run_scoring(db, "bench", as_of=AS_OF)
    with tempfile.TemporaryDirectory() as tmp:
        export_run(db, "bench", Path(tmp) / "bench.csv", as_of=AS_OF)
    record_contacts(db, "bench", sent_at=AS_OF)
    return db, "bench", drop


def _population(db, run_id: str) -> pl.DataFrame:
    """The run's customers with the model's inputs and ``would_contact`` (see the docstring)."""
    from reco.demo_data.campaign import read_population

    population, _ = read_population(db, run_id)
    run = population.filter(pl.col("grp").is_not_null())
    share = run.group_by("scenario").agg(
        share=pl.col("contacted").filter(pl.col("grp") == "treatment").mean()
    )
    u = np.random.default_rng(20261207).random(run.height)
    return (
        run.join(share, on="scenario", how="left")
        .with_columns(
            would_contact=pl.when(pl.col("grp") == "treatment")
            .then(pl.col("contacted"))
            .otherwise(pl.Series(u) < pl.col("share").fill_null(0.0))
        )
        .with_columns(n_control=(pl.col("grp") == "control").sum().over("scenario"))
        .drop("share")
    )


def one_seed(population: pl.DataFrame, lifts: dict[str, float], days: int, seed: int) -> pl.DataFrame:
    """The seed's intervals joined to the truth: one row per scenario (and overall) and metric."""
    from reco.campaign import uplift
    from reco.demo_data.campaign import draw, respond, truth

    rng = np.random.default_rng(seed)
    assigned = (
        population.with_columns(_key=pl.Series(rng.random(population.height)))
        .with_columns(
            grp=pl.when(pl.col("_key").rank("ordinal").over("scenario") <= pl.col("n_control"))
            .then(pl.lit("control"))
            .otherwise(pl.lit("treatment"))
        )
        .with_columns(contacted=(pl.col("grp") == "treatment") & pl.col("would_contact"))
        .drop("_key")
    )
    responded = respond(assigned.lazy(), lifts, days).collect()
    drawn = draw(responded, rng)
    outcomes = drawn.select(
        pl.lit("bench").alias("run_id"),
        "customer_code",
        pl.lit("bench").alias("campaign_id"),
        "grp",
        "scenario",
        "segment",
        "contacted",
        pl.lit(AS_OF).alias("window_start"),
        pl.lit(days).alias("window_days"),
        pl.lit(False).alias("is_partial"),
        "n_orders",
        "revenue",
        "bought_recommended",
        pl.col("bought_recommended").alias("bought_recommended_family"),
        pl.when(pl.col("converted"))
        .then((pl.col("day_u") * days).floor().cast(pl.Int32))
        .alias("days_to_first_purchase"),
    )
    rows = []
    for by in (["scenario"], []):
        est = uplift.compare(outcomes, by=by, confidence=0.95).filter(pl.col("metric").is_in(list(METRICS)))
        true = truth(responded, by=by).unpivot(
            index=by, on=list(METRICS.values()), variable_name="_m", value_name="truth"
        )
        true = true.with_columns(metric=pl.col("_m").replace_strict({v: k for k, v in METRICS.items()})).drop(
            "_m"
        )
        if by:
            got = est.join(true, on=[*by, "metric"], how="inner")
        else:
            got = est.join(true, on="metric", how="inner").with_columns(scenario=pl.lit("overall"))
        rows.append(
            got.select(
                "scenario",
                "metric",
                "truth",
                "abs_low",
                "abs_high",
                "under_powered",
                # no interval (a group with no variance, say) covers nothing
                covered=(
                    (pl.col("abs_low") <= pl.col("truth")) & (pl.col("truth") <= pl.col("abs_high"))
                ).fill_null(False),
                no_interval=pl.col("abs_low").is_null() | pl.col("abs_high").is_null(),
                width=pl.col("abs_high") - pl.col("abs_low"),
            )
        )
    return pl.concat(rows).with_columns(seed=pl.lit(seed))


def wilson(k: int, n: int, z: float = 1.959963984540054) -> tuple[float, float]:
    """The 95% Wilson score interval of a proportion k / n."""
    if n == 0:
        return float("nan"), float("nan")
    p = k / n
    centre = (p + z * z / (2 * n)) / (1 + z * z / n)
    half = z / (1 + z * z / n) * np.sqrt(p * (1 - p) / n + z * z / (4 * n * n))
    return centre - half, centre + half


def summarise(results: pl.DataFrame) -> pl.DataFrame:
    table = (
        results.group_by("scenario", "metric")
        .agg(
            seeds=pl.len(),
            covered=pl.col("covered").sum(),
            truth=pl.col("truth").mean(),
            median_width=pl.col("width").median(),
            under_powered=pl.col("under_powered").mean(),
            no_interval=pl.col("no_interval").sum(),
        )
        .sort("metric", pl.col("scenario") == "overall", "scenario")
    )
    bounds = [wilson(k, n) for k, n in zip(table["covered"], table["seeds"], strict=True)]
    given = table["seeds"] - table["no_interval"]
    given_bounds = [
        wilson(k, n) if n else (float("nan"),) * 2 for k, n in zip(table["covered"], given, strict=True)
    ]
    return table.with_columns(
        coverage=pl.col("covered") / pl.col("seeds"),
        low=pl.Series([b[0] for b in bounds]),
        high=pl.Series([b[1] for b in bounds]),
        given_coverage=pl.col("covered") / (pl.col("seeds") - pl.col("no_interval")),
        given_low=pl.Series([b[0] for b in given_bounds]),
        given_high=pl.Series([b[1] for b in given_bounds]),
    )


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--seeds", type=int, default=500)
    parser.add_argument("--customers", type=int, default=5_000, help="Size of the synthetic run.")
    parser.add_argument("--run-id", help="Use this recorded run of the resolved database instead.")
    parser.add_argument("--lift", help="Lifts per scenario, as reco demo-campaign --lift takes them.")
    parser.add_argument("--days", type=int, default=30)
    args = parser.parse_args()

    from reco.db.resolver import resolve
    from reco.demo_data.campaign import parse_lifts

    lifts = parse_lifts(args.lift)
    load_start = os.getloadavg()
    t0 = time.perf_counter()
    if args.run_id:
        db, run_id, drop = resolve(os.environ.get("DATABASE_URL")), args.run_id, lambda: None
    else:
        db, run_id, drop = _synthetic_run(args.customers)
    try:
        population = _population(db, run_id)
    finally:
        drop()
    t_prepare = time.perf_counter() - t0
    t0 = time.perf_counter()
    results = pl.concat([one_seed(population, lifts, args.days, seed) for seed in range(args.seeds)])
    t_seeds = time.perf_counter() - t0
    table = summarise(results)

    sizes = population.group_by("scenario").agg(
        treated=(pl.col("grp") == "treatment").sum(), control=(pl.col("grp") == "control").sum()
    )
    print(
        f"population: run {run_id!r}, {population.height:,} customers; lifts {lifts}; {args.days}-day period"
    )
    for r in sizes.sort("scenario").iter_rows(named=True):
        print(f"  {r['scenario']:<11} treated {r['treated']:>5,}  control {r['control']:>4,}")
    print(f"\n{args.seeds} seeds, 95% intervals; reference: nominal coverage 0.950\n")
    print(
        f"{'metric':<21} {'scenario':<11} {'coverage':>8}  {'95% interval':<15} {'truth (mean)':>12}"
        f" {'median width':>12} {'under-powered':>13} {'no interval':>11}  {'where given':<23}"
    )
    for r in table.iter_rows(named=True):
        r = {k: (float("nan") if v is None else v) for k, v in r.items()}  # no interval in any seed
        print(
            f"{r['metric']:<21} {r['scenario']:<11} {r['coverage']:>8.3f}  [{r['low']:.3f}, {r['high']:.3f}]"
            f"  {r['truth']:>12.4f} {r['median_width']:>12.4f} {r['under_powered']:>13.0%}"
            f" {r['no_interval']:>11,}  {r['given_coverage']:.3f}"
            f" [{r['given_low']:.3f}, {r['given_high']:.3f}]"
        )
    pooled = results.filter(pl.col("scenario") != "overall")
    lo, hi = wilson(int(pooled["covered"].sum()), pooled.height)
    print(
        f"\nall scenarios and metrics pooled: {pooled['covered'].mean():.3f} [{lo:.3f}, {hi:.3f}]"
        f" over {pooled.height:,} intervals"
    )
    print(
        f"prepare {t_prepare:.1f} s, {args.seeds} seeds {t_seeds:.1f} s"
        f" ({t_seeds / args.seeds * 1000:.0f} ms/seed)"
    )
    print("load average at start: " + " ".join(f"{x:.2f}" for x in load_start))
    print("uptime: " + subprocess.run(["uptime"], capture_output=True, text=True).stdout.strip())


if __name__ == "__main__":
    main()
