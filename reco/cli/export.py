"""``reco export``: a run's treated customers as a file for the e-mailing tool."""

from __future__ import annotations

import json
from datetime import datetime
from pathlib import Path
from typing import Annotated

import typer
from rich.table import Table

from reco.campaign.export import FORMATS, LAYOUTS, export_run
from reco.cli._common import DATE_FORMATS, DATE_METAVAR, console, database, day


def export(
    out: Annotated[Path, typer.Argument(dir_okay=False, help="File to write.")],
    run_id: Annotated[str, typer.Option("--run-id", help="The succeeded run to export.")],
    fmt: Annotated[str, typer.Option("--format", help=f"One of {', '.join(FORMATS)}.")] = "csv",
    layout: Annotated[str, typer.Option("--layout", help=f"One of {', '.join(LAYOUTS)}.")] = "generic",
    as_of: Annotated[
        datetime | None,
        typer.Option(
            "--as-of",
            formats=DATE_FORMATS,
            metavar=DATE_METAVAR,
            help="Day consent is checked for (default: today).",
        ),
    ] = None,
    as_json: Annotated[bool, typer.Option("--json", help="Print the summary as JSON.")] = False,
    marts: Annotated[
        str | None,
        typer.Option(
            "--marts",
            metavar="postgres|parquet:PATH",
            help="Where the customer and product marts are read, as for reco score (default: postgres).",
        ),
    ] = None,
) -> None:
    """Export a run's treated customers (never its control group), consent checked again now."""
    summary = export_run(database(), run_id, out, fmt=fmt, layout=layout, as_of=day(as_of), marts=marts)
    if as_json:
        typer.echo(
            json.dumps(
                {
                    "run_id": summary.run_id,
                    "path": str(summary.path),
                    "format": summary.format,
                    "layout": summary.layout,
                    "as_of": summary.as_of.isoformat(),
                    "exported": summary.exported,
                    "control_not_exported": summary.control,
                    "suppressed_by_reason": summary.suppressed_by_reason,
                },
                indent=2,
            )
        )
        return
    table = Table(show_header=False, title=f"export of run {run_id}")
    table.add_row("file", f"{summary.path} ({summary.format}, {summary.layout})")
    table.add_row("exported", f"{summary.exported:,} customers")
    table.add_row("control (not exported)", f"{summary.control:,} customers")
    for reason, n in summary.suppressed_by_reason.items():
        table.add_row(f"left out: {reason}", f"{n:,} customers")
    console.print(table)
