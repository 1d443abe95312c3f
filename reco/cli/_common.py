"""Shared CLI plumbing: the global options, consoles and the resolved database."""

from __future__ import annotations

from dataclasses import dataclass

from rich.console import Console

from reco.db.resolver import Database, resolve

console = Console()
err_console = Console(stderr=True)


@dataclass
class CliState:
    database_url: str | None = None
    verbose: bool = False


STATE = CliState()


def database(*, start: bool = True) -> Database:
    """The database selected by --database-url, DATABASE_URL, .env or the embedded default."""
    return resolve(STATE.database_url, start=start)
