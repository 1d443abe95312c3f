"""``reco report``: a run's uplift, treated against control, as tables, JSON or an HTML page."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Annotated

import typer
from rich import box
from rich.table import Table

from reco.campaign.report import (
    OVERALL,
    PARTIAL_LABEL,
    build_report,
    cells,
)
from reco.campaign.report_html import write_html
from reco.cli._common import console, database
from reco.errors import RecoError


def report(
    run_id: Annotated[str, typer.Option("--run-id", help="The run whose outcomes were measured.")],
    html: Annotated[
        Path | None, typer.Option("--html", help="Also write the report as one self-contained HTML file.")
    ] = None,
    as_json: Annotated[bool, typer.Option("--json", help="Print the comparisons as JSON.")] = False,
) -> None:
    """Treated against control, overall and per scenario: rates, revenue per customer,
    uplift with 95% intervals, incremental revenue, minimum detectable effects."""
    if html is not None and not Path(html).parent.is_dir():
        raise RecoError(f"--html {html}: no such folder {Path(html).parent}")
    r = build_report(database(), run_id)
    if html is not None:
        write_html(r, html)
    if as_json:
        typer.echo(json.dumps(r.to_dict(), indent=2, default=str))
        return
    if r.is_partial:
        console.print(f"[bold red]{PARTIAL_LABEL}[/]")
    console.print(
        f"run {r.run_id}, campaign {r.campaign_id or ''}: window {r.window_start}, {r.window_days} days;"
        " every customer of the run counted (intention to treat)"
    )
    for scenario in (OVERALL, *r.scenarios):
        rows = r.rows(scenario)
        partial = " [bold red](PARTIAL)[/]" if r.is_partial else ""
        title = f"{scenario}: {rows[0]['n_treatment']:,} treated, {rows[0]['n_control']:,} control{partial}"
        table = Table(title=title, title_justify="left", box=box.SIMPLE_HEAD)
        for col in (
            "metric",
            "treated",
            "control",
            "uplift",
            "95% interval",
            "relative",
            "95% interval",
            "MDE",
            "",
        ):
            table.add_column(col, justify="left" if col == "metric" else "right", no_wrap=col != "metric")
        for row in rows:
            table.add_row(*cells(row), "[yellow]weak[/]" if row["under_powered"] else "")
        console.print(table)
    weak = r.under_powered()
    if weak:
        console.print(
            "[bold]Under-powered comparisons[/] (the minimum detectable effect exceeds the observed uplift,"
        )
        console.print(
            "or a group is too small): they can neither confirm nor rule out an effect of that size."
        )
        for line in weak:
            console.print(f"  - {line}", soft_wrap=True)
    if html is not None:
        console.print(f"HTML report: {html}")
