"""``reco score``: score every eligible customer into a recorded run."""

from __future__ import annotations

from datetime import datetime
from pathlib import Path
from typing import Annotated

import typer
from rich.table import Table

from reco.cli._common import DATE_FORMATS, DATE_METAVAR, console, database, day, print_json
from reco.cli.load import local_or_uri
from reco.scoring.inputs import MARTS_READ
from reco.scoring.marts import export_parquet
from reco.scoring.runs import run_scoring, summarise_run, validate_run_id


def score(
    run_id: Annotated[
        str | None, typer.Option("--run-id", help="Run id (default: generated and printed).")
    ] = None,
    as_of: Annotated[
        datetime | None,
        typer.Option(
            "--as-of", formats=DATE_FORMATS, metavar=DATE_METAVAR, help="Scoring date (default: today)."
        ),
    ] = None,
    config: Annotated[
        Path | None,
        typer.Option(
            "--config",
            exists=True,
            dir_okay=False,
            readable=True,
            help="TOML configuration (default: built-in defaults).",
        ),
    ] = None,
    dry_run: Annotated[bool, typer.Option("--dry-run", help="Score and summarise; write nothing.")] = False,
    replace: Annotated[
        bool, typer.Option("--replace", help="Score again a run id that already succeeded.")
    ] = False,
    as_json: Annotated[bool, typer.Option("--json", help="Print the summary as JSON.")] = False,
    marts: Annotated[
        str | None,
        typer.Option(
            "--marts",
            metavar="postgres|parquet:PATH",
            help="Read the marts from PostgreSQL (default) or from Parquet files as Spark writes them"
            " (PATH/<table>/*.parquet; PATH a folder or s3://bucket/prefix); consent and the run"
            " stay in PostgreSQL.",
        ),
    ] = None,
) -> None:
    """Score every eligible customer (scenario + top 3 with reasons) and record the run."""
    if run_id is None:
        run_id = validate_run_id(None)
        if not as_json:
            console.print(f"run id: {run_id}", highlight=False)
    summary = run_scoring(
        database(),
        run_id,
        as_of=day(as_of),
        config_path=config,
        dry_run=dry_run,
        replace=replace,
        marts=marts,
    )
    if as_json:
        print_json(summary.as_json())
        return
    table = Table(show_header=False, title="dry run: nothing written" if dry_run else "scoring run")
    for label, value in summarise_run(summary):
        table.add_row(label, value)
    console.print(table)


def export_marts(
    path: Annotated[
        str,
        typer.Argument(
            help="Folder, or object-store URI (s3://bucket/prefix), to write PATH/<mart>/part-0.parquet into."
        ),
    ],
) -> None:
    """Write the marts a run reads from PostgreSQL as Parquet, laid out as Spark writes them
    (to try ``reco score --marts parquet:PATH`` without Spark)."""
    target = local_or_uri(path, "export-marts")
    written = export_parquet(database(), target, list(MARTS_READ))
    for table, n in written.items():
        where = target / table if isinstance(target, Path) else f"{target}/{table}"
        console.print(f"{where}: {n:,} rows", highlight=False)
