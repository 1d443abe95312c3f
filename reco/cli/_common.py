"""Shared CLI plumbing: the global options, consoles and the resolved database."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

from rich.console import Console
from rich.progress import (
    BarColumn,
    MofNCompleteColumn,
    Progress,
    SpinnerColumn,
    TextColumn,
    TimeElapsedColumn,
)

from reco.db.resolver import resolve
from reco.db.target import Database

console = Console()
err_console = Console(stderr=True)


@dataclass
class CliState:
    database_url: str | None = None
    verbose: bool = False
    #: the database this command resolved, named by errors about it
    db: Database | None = None


STATE = CliState()


def database(*, start: bool = True) -> Database:
    """The database selected by --database-url, DATABASE_URL, .env or the embedded default."""
    STATE.db = resolve(STATE.database_url, start=start)
    return STATE.db


def run_steps(steps: list[tuple[str, Callable[[], object]]]) -> list[object]:
    """Run named steps under a rich progress bar (spinner, bar, elapsed time); return results."""
    results = []
    columns = (
        SpinnerColumn(),
        TextColumn("[bold]{task.description}"),
        BarColumn(),
        MofNCompleteColumn(),
        TimeElapsedColumn(),
    )
    with Progress(*columns, console=console, transient=False) as progress:
        task = progress.add_task(steps[0][0] if steps else "", total=len(steps))
        for label, fn in steps:
            progress.update(task, description=label)
            results.append(fn())
            progress.advance(task)
        progress.update(task, description="done")
    return results
