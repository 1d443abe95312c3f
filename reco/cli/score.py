"""``reco score``: score every eligible customer into a recorded run."""

from __future__ import annotations

import json
from datetime import date
from pathlib import Path
from typing import Annotated

import typer
from rich.table import Table

from reco.cli._common import console, database
from reco.errors import RecoError
from reco.scoring.runs import run_scoring, summarise_run, validate_run_id


def _as_of(value: str | None) -> date | None:
    if value is None:
        return None
    try:
        return date.fromisoformat(value)
    except ValueError:
        raise RecoError(f"--as-of {value!r}: expected a date as YYYY-MM-DD") from None


def score(
    run_id: Annotated[
        str | None, typer.Option("--run-id", help="Run id (default: generated and printed).")
    ] = None,
    as_of: Annotated[
        str | None, typer.Option("--as-of", help="Scoring date YYYY-MM-DD (default: today).")
    ] = None,
    config: Annotated[
        Path | None,
        typer.Option("--config", help="TOML configuration (default: built-in defaults)."),
    ] = None,
    dry_run: Annotated[bool, typer.Option("--dry-run", help="Score and summarise; write nothing.")] = False,
    replace: Annotated[
        bool, typer.Option("--replace", help="Score again a run id that already succeeded.")
    ] = False,
    as_json: Annotated[bool, typer.Option("--json", help="Print the summary as JSON.")] = False,
) -> None:
    """Score every eligible customer (scenario + top 3 with reasons) and record the run."""
    day = _as_of(as_of)
    if run_id is None:
        run_id = validate_run_id(None)
        if not as_json:
            console.print(f"run id: {run_id}", highlight=False)
    summary = run_scoring(database(), run_id, as_of=day, config_path=config, dry_run=dry_run, replace=replace)
    if as_json:
        typer.echo(
            json.dumps(
                {
                    "run_id": summary.run_id,
                    "status": summary.status,
                    "as_of": summary.as_of.isoformat(),
                    "counts": summary.counts,
                    "input_fingerprint": summary.fingerprint,
                    "seconds": round(summary.seconds, 3),
                },
                indent=2,
            )
        )
        return
    table = Table(show_header=False, title="dry run: nothing written" if dry_run else "scoring run")
    for label, value in summarise_run(summary):
        table.add_row(label, value)
    console.print(table)
