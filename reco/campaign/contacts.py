"""``reco contacts record``: the contacts a campaign made from a run, in ``reco.contact_event``.

One row per customer the run's latest export exported (``run_customer.export_status =
'exported'``), and one per control customer, flagged ``is_control`` (the attribution baseline:
eligibility ignores control rows, so they never silence anyone). Each row carries the run id,
the campaign id (the run id unless given), the scenario, the channel and the day sent.
Recording the same run again adds nothing (unique run_id, customer_code).
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass

from reco.campaign import require_run
from reco.db.engine import adbc_connect
from reco.db.target import Database
from reco.errors import RecoError
from reco.scoring.inputs import fetch


@dataclass
class RecordSummary:
    run_id: str
    campaign_id: str
    contact_date: dt.date
    added_treated: int
    added_control: int
    already_recorded: int


def record_contacts(
    db: Database,
    run_id: str,
    *,
    sent_at: dt.date | None = None,
    channel: str = "email",
    campaign_id: str | None = None,
) -> RecordSummary:
    """Record the run's exported and control customers as contacted on ``sent_at`` (today)."""
    sent_at = sent_at or dt.date.today()
    campaign_id = campaign_id or run_id
    channel = channel.strip().lower()
    if not channel:
        raise RecoError("--channel: expected a channel name such as email")
    with adbc_connect(db) as conn:
        require_run(conn, run_id, unless_succeeded="nothing to record")
        state = fetch(
            conn,
            """select count(*) filter (where grp = 'treatment') as treated,
                   count(*) filter (where export_status is not null) as exported
            from reco.run_customer where run_id = $1""",
            (run_id,),
        ).row(0, named=True)
        if state["treated"] and not state["exported"]:
            raise RecoError(
                f"run {run_id!r} has not been exported: run reco export --run-id {run_id} OUT first"
            )
        added = fetch(
            conn,
            """with added as (
                insert into reco.contact_event
                    (customer_code, contact_date, channel, campaign_id, run_id, scenario, is_control)
                select customer_code, $2::date, $3, $4, run_id, scenario, grp = 'control'
                from reco.run_customer
                where run_id = $1 and (grp = 'control' or export_status = 'exported')
                order by customer_code
                on conflict (run_id, customer_code) do nothing
                returning is_control
            )
            select count(*) filter (where not is_control) as treated,
                   count(*) filter (where is_control) as control
            from added""",
            (run_id, sent_at.isoformat(), channel, campaign_id),
        ).row(0, named=True)
        total = fetch(
            conn,
            "select count(*) as n from reco.contact_event where run_id = $1",
            (run_id,),
        )["n"][0]
        conn.commit()
    return RecordSummary(
        run_id,
        campaign_id,
        sent_at,
        added["treated"],
        added["control"],
        total - added["treated"] - added["control"],
    )
