"""The campaign loop after a scoring run: export, contacts, outcomes and the uplift report
(see docs/campaigns.md)."""

from __future__ import annotations

from reco.errors import RecoError
from reco.scoring.inputs import fetch


def require_run(conn, run_id: str, *, unless_succeeded: str | None = None) -> dict:
    """The run's ``status`` and ``config`` (JSON text); refuses an unknown run, and a run that
    did not succeed when ``unless_succeeded`` says what is refused then."""
    rows = fetch(
        conn,
        "select status::text as status, config_json::text as config from reco.reco_run where run_id = $1",
        (run_id,),
    )
    if rows.height == 0:
        raise RecoError(f"no run {run_id!r} (see: reco runs list)")
    run = rows.row(0, named=True)
    if unless_succeeded is not None and run["status"] != "succeeded":
        raise RecoError(f"run {run_id!r} did not succeed (status {run['status']}); {unless_succeeded}")
    return run
