"""``reco contacts record``: record who a campaign built from a run contacted."""

from __future__ import annotations

import json
from datetime import datetime
from typing import Annotated

import typer
from rich.table import Table

from reco.campaign.contacts import record_contacts
from reco.cli._common import DATE_FORMATS, console, database, day

app = typer.Typer(help="Record the contacts a campaign made.", no_args_is_help=True)


@app.command("record")
def record(
    run_id: Annotated[str, typer.Option("--run-id", help="The exported run.")],
    sent_at: Annotated[
        datetime | None,
        typer.Option(
            "--sent-at",
            formats=[*DATE_FORMATS, "%Y-%m-%dT%H:%M", "%Y-%m-%dT%H:%M:%S"],
            metavar="<YYYY-MM-DD[THH:MM[:SS]]>",
            help="When the campaign went out, a date or a time (default: today).",
        ),
    ] = None,
    channel: Annotated[str, typer.Option("--channel", help="Channel of the contact.")] = "email",
    campaign_id: Annotated[
        str | None, typer.Option("--campaign-id", help="Campaign id (default: the run id).")
    ] = None,
    as_json: Annotated[bool, typer.Option("--json", help="Print the summary as JSON.")] = False,
) -> None:
    """One contact per exported customer, and the control customers flagged is_control;
    recording a run again adds nothing."""
    s = record_contacts(database(), run_id, sent_at=day(sent_at), channel=channel, campaign_id=campaign_id)
    if as_json:
        typer.echo(
            json.dumps(
                {
                    "run_id": s.run_id,
                    "campaign_id": s.campaign_id,
                    "contact_date": s.contact_date.isoformat(),
                    "added_treated": s.added_treated,
                    "added_control": s.added_control,
                    "already_recorded": s.already_recorded,
                },
                indent=2,
            )
        )
        return
    table = Table(show_header=False, title=f"contacts of run {run_id}")
    table.add_row("campaign", s.campaign_id)
    table.add_row("contact date", s.contact_date.isoformat())
    table.add_row("contacted (added)", f"{s.added_treated:,}")
    table.add_row("control (added, is_control)", f"{s.added_control:,}")
    table.add_row("already recorded", f"{s.already_recorded:,}")
    console.print(table)
