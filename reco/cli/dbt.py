"""``reco dbt ARGS…``: dbt against the resolved database."""

from __future__ import annotations

import typer

from reco.cli._common import database
from reco.dbt.runner import run_dbt


def dbt(ctx: typer.Context) -> None:
    """Run dbt against the resolved database; every argument goes to dbt,
    e.g. `reco dbt build --select marts`."""
    run_dbt(database(), ctx.args or ["--help"])
