"""``reco dbt ARGS…``: dbt against the resolved database."""

from __future__ import annotations

import typer

from reco.cli._common import database, err_console
from reco.dbt.incremental import build_warehouse, is_whole_build
from reco.dbt.runner import run_dbt


def dbt(ctx: typer.Context) -> None:
    """Run dbt against the resolved database; every argument goes to dbt,
    e.g. `reco dbt build --select marts`. A build of the whole project is incremental when
    that gives the same marts as a cold build, a full refresh otherwise; it says which and why."""
    args = ctx.args or ["--help"]
    if not is_whole_build(args):
        run_dbt(database(), args)
        return
    result = build_warehouse(
        database(), args, on_path=lambda p: err_console.print(p.line(), markup=False, highlight=False)
    )
    err_console.print(f"{result.path.line()}: done in {result.seconds:.1f} s", markup=False, highlight=False)
