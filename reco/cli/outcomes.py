"""``reco outcomes``: measure what a run's customers bought in the campaign's window."""

from __future__ import annotations

import json
from typing import Annotated

import typer
from rich.table import Table

from reco.campaign.outcomes import DEFAULT_WINDOW_DAYS, measure_outcomes
from reco.cli._common import console, database


def outcomes(
    run_id: Annotated[str, typer.Option("--run-id", help="The run whose contacts were recorded.")],
    window_days: Annotated[
        int, typer.Option("--window-days", help="Days measured from the send date.")
    ] = DEFAULT_WINDOW_DAYS,
    partial: Annotated[
        bool,
        typer.Option("--partial", help="Measure a window the sales do not cover yet (labelled partial)."),
    ] = False,
    as_json: Annotated[bool, typer.Option("--json", help="Print the summary as JSON.")] = False,
) -> None:
    """Purchases of the run's treated and control customers in [send date, + window days),
    into reco.run_outcome and reco.outcome_event (a rerun replaces them)."""
    s = measure_outcomes(database(), run_id, window_days=window_days, partial=partial)
    if as_json:
        typer.echo(json.dumps(s.to_dict(), indent=2))
        return
    title = f"outcomes of run {run_id}" + (
        " [bold red](PARTIAL: window still open)[/]" if s.is_partial else ""
    )
    table = Table(show_header=False, title=title)
    table.add_row("campaign", s.campaign_id or "")
    table.add_row("window", f"{s.window_start} to {s.window_end} (exclusive), {s.window_days} days")
    table.add_row("sales in the warehouse until", str(s.sales_until))
    table.add_row("customers measured", f"{s.customers:,} (treated and control)")
    table.add_row("customers who bought", f"{s.buyers:,}")
    table.add_row("purchase lines", f"{s.purchase_lines:,}")
    if s.is_partial:
        table.add_row("status", "PARTIAL: measured before the window closed")
    console.print(table)
