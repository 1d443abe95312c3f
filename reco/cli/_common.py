"""Shared CLI plumbing: the global options, consoles, the resolved database, and how a command
shows its steps as they go."""

from __future__ import annotations

import json
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import date, datetime

import typer
from rich.console import Console
from rich.progress import BarColumn, Progress, SpinnerColumn, TaskID, TextColumn, TimeElapsedColumn
from typer.core import TyperOption

from reco.db.resolver import Database, resolve
from reco.dbt.runner import NodeDone
from reco.ingest import LoadProgress

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


#: How dates are written on the command line; Typer checks them (``datetime`` options with
#: these formats), so a bad date is a usage error naming the option.
DATE_FORMATS = ["%Y-%m-%d"]
DATE_METAVAR = "<YYYY-MM-DD>"


def day(value: datetime | None) -> date | None:
    """The date of a ``datetime`` option parsed with :data:`DATE_FORMATS`."""
    return None if value is None else value.date()


def date_list(text: str) -> list[date]:
    """A Typer ``parser`` for comma-separated dates (YYYY-MM-DD,YYYY-MM-DD…)."""
    days = []
    for part in filter(None, (p.strip() for p in text.split(","))):
        try:
            days.append(datetime.strptime(part, DATE_FORMATS[0]).date())
        except ValueError:
            raise typer.BadParameter(f"expected YYYY-MM-DD dates separated by commas, got {part!r}") from None
    return days


def refuse_together(**options: object) -> None:
    """A usage error when more than one of ``options`` (name: its value; None, False or an empty
    list when not given) is given."""
    given = [name for name, value in options.items() if value not in (None, False, (), [])]
    if len(given) > 1:
        hint = " / ".join(f"'{name}'" for name in given)
        raise typer.BadParameter("give one of them, not both", param_hint=hint)


def print_json(value: object) -> None:
    """The one thing a command prints on stdout with --json."""
    typer.echo(json.dumps(value, indent=2, default=str))


def _no_type_for_flags() -> None:
    """Typer (0.29) shows ``<bool>`` as the type of every flag, --help included, although a
    flag takes no value: show none."""
    shown = TyperOption.display_type_rich

    def display_type_rich(self, ctx):
        return None if self.is_flag and self.metavar is None else shown(self, ctx)

    TyperOption.display_type_rich = display_type_rich


_no_type_for_flags()


def _megabytes(n: int) -> str:
    return f"{n / 1e6:,.1f} MB"


def load_line(p: LoadProgress) -> str:
    return (
        f"{p.entity}: {p.files_done}/{p.files} files, {_megabytes(p.bytes_done)} of "
        f"{_megabytes(p.bytes)}, {p.rows:,} rows; {p.doing}"
    )


def node_line(n: NodeDone) -> str:
    return f"{n.index}/{n.total} {n.kind} {n.name} {n.status} {n.seconds:.2f}s"


class Steps:
    """Shows a command's steps as they go, on stderr (stdout stays for results and --json).

    In a terminal: a rich progress bar over the steps, and under it what the current step is
    doing (the dbt node just finished, k/N; the file, bytes and rows of a load). Elsewhere (a
    pipe, a log file, CI): one line when a step starts, one when it ends with its time, and one
    per dbt node finished and per load progress, so that nothing is silent for minutes.

    Steps are run with :meth:`run` (a known list) or :meth:`step` (a context), or told with
    :meth:`say` as they start when a library only announces them (each ends as the next starts,
    the last when the ``Steps`` is left)."""

    def __init__(self, total: int | None = None, *, out: Console = err_console):
        self.total = total
        self.out = out
        self.live = out.is_terminal and not out.is_dumb_terminal
        self.done = 0
        self._progress: Progress | None = None
        self._steps: TaskID | None = None
        self._detail: TaskID | None = None
        self._current: tuple[str, str, float] | None = None  # number, label, start

    def __enter__(self) -> Steps:
        if self.live:
            self._progress = Progress(
                SpinnerColumn(),
                TextColumn("[bold]{task.description}"),
                BarColumn(),
                TextColumn("{task.fields[count]}"),
                TimeElapsedColumn(),
                console=self.out,
            )
            self._progress.__enter__()
            self._steps = self._progress.add_task("", total=self.total, count=self._count())
        return self

    def __exit__(self, exc_type, *exc) -> None:
        if self._current is not None:
            self._end(ok=exc_type is None)
        if self._progress is not None:
            if exc_type is None:
                self._progress.update(self._steps, description="done")
            self._progress.__exit__(exc_type, *exc)
            self._progress = None

    def _count(self) -> str:
        return f"{self.done}/{self.total}" if self.total else f"{self.done}"

    def _say(self, text: str) -> None:
        self.out.print(text, markup=False, highlight=False, soft_wrap=True)

    def _begin(self, label: str) -> None:
        number = f"[{self.done + 1}/{self.total}] " if self.total else ""
        self._current = (number, label, time.perf_counter())
        if self._progress is not None:
            self._progress.update(self._steps, description=label)
        else:
            self._say(f"{number}{label} …")

    def _end(self, *, ok: bool) -> None:
        assert self._current is not None
        number, label, started = self._current
        self._current = None
        seconds = time.perf_counter() - started
        self.done += 1
        if self._progress is None:
            self._say(f"{number}{label}: {'done' if ok else 'failed'} in {seconds:.1f}s")
            return
        if self._detail is not None:
            self._progress.remove_task(self._detail)
            self._detail = None
        self._progress.update(self._steps, advance=1, count=self._count())
        self._progress.console.print(
            f"{'✓' if ok else '✗'} {label} ({seconds:.1f}s)", markup=False, highlight=False
        )

    @contextmanager
    def step(self, label: str) -> Iterator[None]:
        """One step: shown as it starts and as it ends (or fails)."""
        self._begin(label)
        ok = False
        try:
            yield
            ok = True
        finally:
            self._end(ok=ok)

    def say(self, label: str) -> None:
        """A step that starts now; the one before it, if any, has ended."""
        if self._current is not None:
            self._end(ok=True)
        self._begin(label)

    def _show(self, text: str, completed: float, total: float, count: str) -> None:
        if self._progress is None:
            self._say(f"    {text}")
            return
        if self._detail is None:
            self._detail = self._progress.add_task(text, total=total, count=count)
        self._progress.update(self._detail, description=text, completed=completed, total=total, count=count)

    def node(self, n: NodeDone) -> None:
        """A dbt node finished (``run_dbt(..., on_node=steps.node)``)."""
        if self._progress is None:
            self._say(f"    {node_line(n)}")
        else:
            self._show(
                f"  {n.kind} {n.name} {n.status} {n.seconds:.2f}s", n.index, n.total, f"{n.index}/{n.total}"
            )

    def load(self, p: LoadProgress) -> None:
        """A load went further (``load_files(..., on_progress=steps.load)``)."""
        if self._progress is None:
            self._say(f"    {load_line(p)}")
        else:
            count = f"{_megabytes(p.bytes_done)}/{_megabytes(p.bytes)}"
            self._show(f"  {p.doing}, {p.rows:,} rows", p.bytes_done, max(p.bytes, 1), count)

    def run(self, steps: list[tuple[str, Callable[[], object]]]) -> list[object]:
        """Run named steps, each shown as it goes; return their results."""
        self.total = len(steps)
        with self:
            results = []
            for label, fn in steps:
                with self.step(label):
                    results.append(fn())
        return results
