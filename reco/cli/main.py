"""The ``reco`` command line: a thin layer over library functions.

A user error (``RecoError``) prints one line and exits 1; tracebacks only with ``--verbose``.
"""

from __future__ import annotations

import logging
import sys
import traceback
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
from reco.cli import runs as runs_cli
from reco.cli import score as score_cli
from reco.cli._common import STATE, err_console
from reco.db.resolver import mask_url
from reco.errors import RecoError

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
    logging.basicConfig(level=logging.INFO if verbose else logging.WARNING)


app.add_typer(db_cli.app, name="db")
app.command("dbt", context_settings={"allow_extra_args": True, "ignore_unknown_options": True})(dbt_cli.dbt)
app.add_typer(load_cli.app, name="load")
app.add_typer(docs_cli.app, name="docs")
app.command("demo")(demo_cli.demo)
app.command("backtest")(backtest_cli.backtest)
app.command("score")(score_cli.score)
app.add_typer(runs_cli.app, name="runs")
app.command("audit")(runs_cli.audit)
app.command("demo-data")(demo_data_cli.demo_data)
app.command("export")(export_cli.export)
app.add_typer(contacts_cli.app, name="contacts")


def main(argv: list[str] | None = None) -> int:
    """Run the CLI and return its exit code (used by the console script and the tests)."""
    try:
        rv = app(args=argv, prog_name="reco", standalone_mode=False)
        return rv if isinstance(rv, int) else 0
    except typer.Abort:
        err_console.print("aborted")
        return 1
    except typer.TyperException as exc:  # usage errors: bad option, unknown command, …
        show = getattr(exc, "show", None)
        if show is not None:
            show()
        else:
            err_console.print(str(exc), markup=False, highlight=False, soft_wrap=True)
        return getattr(exc, "exit_code", 2)
    except RecoError as exc:
        if STATE.verbose:
            err_console.print(mask_url(traceback.format_exc()), markup=False, highlight=False, soft_wrap=True)
        err_console.print(f"error: {mask_url(str(exc))}", markup=False, highlight=False, soft_wrap=True)
        return exc.exit_code
    except Exception as exc:
        if STATE.verbose:
            err_console.print(mask_url(traceback.format_exc()), markup=False, highlight=False, soft_wrap=True)
        first = mask_url(str(exc)).strip().splitlines()[0] if str(exc).strip() else ""
        err_console.print(
            f"error: unexpected {type(exc).__name__}: {first} (run with --verbose for details)",
            markup=False,
            highlight=False,
            soft_wrap=True,
        )
        return 2


def run() -> None:
    sys.exit(main())


if __name__ == "__main__":
    run()
