"""``reco demo``: the main job, end to end, on the embedded default."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer
from rich.table import Table

from reco import demo as demo_lib
from reco.cli._common import console, database, run_steps


def demo(
    customers: Annotated[
        int, typer.Option(min=1, help="Customers in the generated demo exports.")
    ] = demo_lib.DEFAULT_CUSTOMERS,
    seed: Annotated[int, typer.Option(help="Seed of the demo exports (same seed, same files).")] = (
        demo_lib.DEFAULT_SEED
    ),
    data_dir: Annotated[
        Path | None,
        typer.Option(help="Where the demo exports are written (default: RECO_HOME/demo-data)."),
    ] = None,
) -> None:
    """Generate the demo exports (once), load them, build the warehouse, score, summarise."""
    db = database()
    console.print(f"[bold]database[/] {db.masked} ({db.origin})", highlight=False, soft_wrap=True)
    result, steps = demo_lib.plan(db, customers=customers, seed=seed, data_dir=data_dir)
    run_steps(steps)
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
