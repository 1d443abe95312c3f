"""``reco dbt ARGS…``: dbt against the resolved database."""

from __future__ import annotations

import typer

from reco.cli._common import database
from reco.dbt.runner import run_dbt

app = typer.Typer(help="Run dbt against the resolved database.")


@app.callback(
    invoke_without_command=True,
    context_settings={"allow_extra_args": True, "ignore_unknown_options": True},
)
def dbt(ctx: typer.Context) -> None:
    """Pass every argument to dbt, e.g. `reco dbt build --select marts`."""
    run_dbt(database(), ctx.args or ["--help"])
