"""The ``reco`` command line: a thin layer over library functions.

Every error prints one line on stderr (tracebacks only with ``--verbose``) and exits with a code
a script can use: 0 success, 1 a user or data error (a lost database connection included),
2 a usage error, 3 an internal error, 128 + N when signal N (SIGTERM, SIGINT) interrupted it.
With ``--json`` the error is also printed on stdout as one JSON object.
"""

from __future__ import annotations

import json
import logging
import signal
import sys
import threading
import traceback
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Annotated

import typer

from reco.cli import backtest as backtest_cli
from reco.cli import contacts as contacts_cli
from reco.cli import db as db_cli
from reco.cli import dbt as dbt_cli
from reco.cli import demo as demo_cli
from reco.cli import demo_data as demo_data_cli
from reco.cli import docs as docs_cli
from reco.cli import export as export_cli
from reco.cli import load as load_cli
from reco.cli import outcomes as outcomes_cli
from reco.cli import report as report_cli
from reco.cli import runs as runs_cli
from reco.cli import score as score_cli
from reco.cli._common import STATE, err_console
from reco.db.engine import connection_lost, is_connection_error
from reco.db.target import mask_url
from reco.errors import Interrupted, RecoError

app = typer.Typer(
    name="reco",
    help="CRM recommendations: load exports, build the dbt warehouse, score, audit.",
    no_args_is_help=True,
    pretty_exceptions_enable=False,
    add_completion=False,
)


@app.callback()
def _global(
    database_url: Annotated[
        str | None,
        typer.Option(
            "--database-url",
            help="PostgreSQL URL to use (overrides DATABASE_URL and .env; default: the embedded server).",
            show_default=False,
        ),
    ] = None,
    verbose: Annotated[bool, typer.Option("--verbose", "-v", help="Show tracebacks and logs.")] = False,
) -> None:
    STATE.database_url = database_url
    STATE.verbose = verbose
    STATE.db = None
    logging.basicConfig(level=logging.INFO if verbose else logging.WARNING)


app.add_typer(db_cli.app, name="db")
app.command("dbt", context_settings={"allow_extra_args": True, "ignore_unknown_options": True})(dbt_cli.dbt)
app.add_typer(load_cli.app, name="load")
app.add_typer(docs_cli.app, name="docs")
app.command("demo")(demo_cli.demo)
app.command("backtest")(backtest_cli.backtest)
app.command("score")(score_cli.score)
app.command("export-marts")(score_cli.export_marts)
app.command("export-sources")(load_cli.export_sources_command)
app.add_typer(runs_cli.app, name="runs")
app.command("audit")(runs_cli.audit)
app.command("demo-data")(demo_data_cli.demo_data)
app.command("demo-campaign")(demo_data_cli.demo_campaign)
app.command("export")(export_cli.export)
app.add_typer(contacts_cli.app, name="contacts")
app.command("outcomes")(outcomes_cli.outcomes)
app.command("report")(report_cli.report)


#: Exit codes (README, "Exit codes"). An interruption exits 128 + the signal's number.
EXIT_OK, EXIT_ERROR, EXIT_USAGE, EXIT_INTERNAL = 0, 1, 2, 3


def _wants_json(args: list[str]) -> bool:
    """``--json`` among reco's own options (not after ``--``, not an argument passed to dbt)."""
    own = args[: args.index("--")] if "--" in args else args
    first = 0  # the command: the first word after the global options
    while first < len(own) and own[first].startswith("-"):
        first += 2 if own[first] == "--database-url" else 1
    return "--json" in own and own[first : first + 1] != ["dbt"]


def _say(message: str) -> None:
    err_console.print(message, markup=False, highlight=False, soft_wrap=True)


def _error(code: int, kind: str, message: str, *, as_json: bool, shown: bool = False) -> int:
    """One line on stderr (unless already ``shown``), and one JSON object on stdout with --json."""
    if not shown:
        _say(f"error: {message}")
    if as_json:
        typer.echo(json.dumps({"error": {"code": code, "kind": kind, "message": message}}))
    return code


def _raise_interrupted(signum: int, _frame) -> None:
    raise Interrupted(signum)


@contextmanager
def _signals_raise() -> Iterator[None]:
    """SIGTERM and SIGINT raise :class:`Interrupted` in the main thread, so that cleanups run
    (a dbt child is stopped, a backtest drops its schemas and records why it stopped)."""
    if threading.current_thread() is not threading.main_thread():
        yield
        return
    saved = {sig: signal.signal(sig, _raise_interrupted) for sig in (signal.SIGTERM, signal.SIGINT)}
    try:
        yield
    finally:
        for sig, handler in saved.items():
            signal.signal(sig, handler)


def main(argv: list[str] | None = None) -> int:
    """Run the CLI and return its exit code (used by the console script and the tests)."""
    args = list(sys.argv[1:] if argv is None else argv)
    as_json = _wants_json(args)
    try:
        with _signals_raise():
            rv = app(args=args, prog_name="reco", standalone_mode=False)
        return rv if isinstance(rv, int) else EXIT_OK
    except Interrupted as exc:
        return _error(exc.exit_code, exc.kind, str(exc), as_json=as_json)
    except typer.Abort:
        return _error(EXIT_ERROR, "user", "aborted", as_json=as_json)
    except typer.TyperException as exc:  # usage errors: bad option, unknown command, …
        show, message = getattr(exc, "show", None), getattr(exc, "format_message", exc.__str__)()
        if show is not None:
            show()
        code = getattr(exc, "exit_code", EXIT_USAGE)
        return _error(code, "usage", message, as_json=as_json, shown=show is not None)
    except RecoError as exc:
        _traceback()
        return _error(exc.exit_code, exc.kind, mask_url(str(exc)), as_json=as_json)
    except Exception as exc:
        _traceback()
        if is_connection_error(exc):
            lost = connection_lost(STATE.db, exc)
            return _error(lost.exit_code, lost.kind, str(lost), as_json=as_json)
        first = mask_url(str(exc)).strip().splitlines()[0] if str(exc).strip() else ""
        message = f"unexpected {type(exc).__name__}: {first} (run with --verbose for details)"
        return _error(EXIT_INTERNAL, "internal", message, as_json=as_json)


def _traceback() -> None:
    if STATE.verbose:
        _say(mask_url(traceback.format_exc()))


def run() -> None:
    sys.exit(main())


if __name__ == "__main__":
    run()
