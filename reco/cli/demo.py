"""``reco demo``: the main job, end to end, on the embedded default."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer
from rich import box
from rich.table import Table

from reco import demo as demo_lib
from reco.campaign import report as fmt
from reco.campaign.report import CONFIDENCE, LABELS, OVERALL, UpliftReport
from reco.cli._common import Steps, console, database, print_json
from reco.cli.runs import sample_table
from reco.scoring.runs import summarise_run


def demo(
    customers: Annotated[
        int, typer.Option(min=1, help="Customers in the generated demo exports.")
    ] = demo_lib.DEFAULT_CUSTOMERS,
    seed: Annotated[int, typer.Option(help="Seed of the demo exports (same seed, same files).")] = (
        demo_lib.DEFAULT_SEED
    ),
    data_dir: Annotated[
        Path | None,
        typer.Option(
            file_okay=False,
            help="Where the demo exports are written (default: RECO_HOME/demo-data).",
        ),
    ] = None,
    as_json: Annotated[
        bool, typer.Option("--json", help="Print the loads, the run and the campaign as JSON.")
    ] = False,
) -> None:
    """Generate the demo exports (once), load them, build the warehouse, score, summarise."""
    db = database()
    shown = Steps()
    shown.out.print(f"[bold]database[/] {db.masked} ({db.origin})", highlight=False, soft_wrap=True)
    result, steps = demo_lib.plan(
        db, customers=customers, seed=seed, data_dir=data_dir, on_node=shown.node, on_load=shown.load
    )
    shown.run(steps)
    if as_json:
        print_json(
            {
                "database": db.masked,
                "loads": [r.as_json() for r in result.loads],
                "run": result.run.as_json() if result.run else None,
                "sample": demo_lib.sample_recommendations(db, result.run.run_id) if result.run else [],
                "campaign_run": result.campaign_run,
                "campaign": result.report.to_dict() if result.report else None,
                "truth": result.truth,
            }
        )
        return
    table = Table("entity", "file", "read", "loaded", "rejected", "duplicates", title="loads")
    for report in result.loads:
        for f in report.files:
            table.add_row(
                report.entity,
                f.path.rsplit("/", 1)[-1],
                f"{f.rows_read:,}",
                f"{f.loaded:,}",
                f"{f.rejected:,}",
                f"{f.duplicates:,}",
            )
    console.print(table)
    if result.run is None:
        return
    summary = Table(show_header=False, title=f"scoring run {result.run.run_id}")
    for label, value in summarise_run(result.run):
        summary.add_row(label, value)
    console.print(summary)
    console.print(sample_table(demo_lib.sample_recommendations(db, result.run.run_id), title="a glance"))
    console.print(
        f"inspect: reco runs show {result.run.run_id} · reco audit {result.run.run_id}", highlight=False
    )
    if result.report is not None:
        for metric in TRUE_UPLIFT:
            console.print(uplift_table(result.report, result.truth, metric))
        console.print(
            f"campaign of run {result.report.run_id} (simulated, docs/campaigns.md);"
            f" details: reco report --run-id {result.report.run_id} [--html report.html]",
            highlight=False,
        )


#: the report's metrics the simulator knows the truth of, and the truth's key for each
TRUE_UPLIFT = {
    "conversion": "conversion_abs_uplift",
    "revenue_per_customer": "revenue_per_customer_abs_uplift",
}


def uplift_table(report: UpliftReport, truth: dict | None, metric: str) -> Table:
    """One metric, treated against control per scenario, with the simulator's true uplift
    beside the measured one (✓ when the interval holds it)."""
    r = report
    table = Table(
        title=f"{LABELS[metric]}: {r.window_days} days from {r.window_start}"
        + (" — PARTIAL" if r.is_partial else ""),
        caption="T treated, C control; * under-powered (reco report gives the minimum detectable effect)",
        box=box.SIMPLE_HEAD,
        pad_edge=False,
        padding=(0, 1, 0, 0),
    )
    # narrow headers: the table fits 80 columns
    for header in ("scenario", "n T/C", "T", "C", "uplift", f"{CONFIDENCE:.0%} interval", "truth"):
        table.add_column(header, no_wrap=True)
    for scenario in (OVERALL, *r.scenarios):
        (row,) = (x for x in r.rows(scenario) if x["metric"] == metric)
        true = None
        if truth is not None:
            facts = truth["overall"] if scenario == OVERALL else truth["scenarios"].get(scenario)
            true = None if facts is None else facts[TRUE_UPLIFT[metric]]
        held = ""
        if true is not None and row["abs_low"] is not None:
            held = " ✓" if row["abs_low"] <= true <= row["abs_high"] else " ✗"
        table.add_row(
            "all" if scenario == OVERALL else scenario,
            f"{row['n_treatment']:,}/{row['n_control']:,}",
            fmt.value(metric, row["treatment"]),
            fmt.value(metric, row["control"]),
            fmt.signed(metric, row["abs_uplift"]) + ("*" if row["under_powered"] else ""),
            fmt.interval(metric, row["abs_low"], row["abs_high"]),
            "" if true is None else fmt.signed(metric, true) + held,
        )
    return table
