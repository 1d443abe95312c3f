"""``reco contacts record``: record who a campaign built from a run contacted."""

from __future__ import annotations

import datetime as dt
import json
from typing import Annotated

import typer
from rich.table import Table

from reco.campaign.contacts import record_contacts
from reco.cli._common import console, database
from reco.errors import RecoError

app = typer.Typer(help="Record the contacts a campaign made.", no_args_is_help=True)


def _sent_at(value: str | None) -> dt.date | None:
    if value is None:
        return None
    try:
        return dt.datetime.fromisoformat(value).date()
    except ValueError:
        raise RecoError(
            f"--sent-at {value!r}: expected a date or timestamp, e.g. 2026-11-25 or 2026-11-25T09:30"
        ) from None


@app.command("record")
def record(
    run_id: Annotated[str, typer.Option("--run-id", help="The exported run.")],
    sent_at: Annotated[
        str | None, typer.Option("--sent-at", help="When the campaign went out (default: today).")
    ] = None,
    channel: Annotated[str, typer.Option("--channel", help="Channel of the contact.")] = "email",
    campaign_id: Annotated[
        str | None, typer.Option("--campaign-id", help="Campaign id (default: the run id).")
    ] = None,
    as_json: Annotated[bool, typer.Option("--json", help="Print the summary as JSON.")] = False,
) -> None:
    """One contact per exported customer, and the control customers flagged is_control;
    recording a run again adds nothing."""
    s = record_contacts(
        database(), run_id, sent_at=_sent_at(sent_at), channel=channel, campaign_id=campaign_id
    )
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
