"""A crash of the server itself (kill -9 of the postmaster, then crash recovery) loses no
suppression: PostgreSQL empties dbt's unlogged intermediate tables in crash recovery, and
eligibility must not depend on any of them. Both run with the marts read from PostgreSQL and
from Parquet files (the ``marts`` fixture)."""

from __future__ import annotations

import psycopg

from tests.faults.conftest import one, rows

#: The contact_history view as it was before eligibility read durable tables only: over the
#: unlogged intermediate code map, so a crash empties it.
UNLOGGED_CONTACT_HISTORY = """
create or replace view marts.contact_history as
select 'import:' || c.id as contact_id, coalesce(m.customer_code, btrim(c.customer_code)) as customer_code,
       c.contact_date, 'email'::text as channel, null::text as campaign_id, 'import'::text as source,
       false as is_control, null::text as status
from raw.contact as c
join intermediate.int_customer_codes_clustered as m on m.source_customer_code = btrim(c.customer_code)
"""


def _run(db, run_id: str):
    items = rows(
        db,
        "select customer_code, scenario, rank, product_key, score from reco.reco_item"
        " where run_id = %s order by customer_code, rank",
        (run_id,),
    )
    suppressed = dict(
        rows(
            db,
            "select reason_code, count(*) from reco.audit_item where run_id = %s and kind = 'suppressed'"
            " group by reason_code",
            (run_id,),
        )
    )
    return items, suppressed


def _recommended_while_suppressed(db, run_id: str, reference: str) -> int:
    """Customers recommended in ``run_id`` although ``reference`` suppressed them."""
    return one(
        db,
        """select count(distinct i.customer_code) from reco.reco_item i
           join reco.audit_item a on a.customer_code = i.customer_code
               and a.run_id = %s and a.kind = 'suppressed'
           where i.run_id = %s""",
        (reference, run_id),
    )


def test_a_server_crash_empties_the_unlogged_tables_but_loses_no_suppression(
    fault_server, fault_db, score_day, marts
):
    db = fault_db
    before = fault_server.reco(db, "score", "--run-id", "before", "--as-of", str(score_day), *marts.args)
    assert before.returncode == 0, before.stderr
    items_before, suppressed_before = _run(db, "before")
    assert suppressed_before.get("silence_window", 0) > 0 and items_before
    assert one(db, "select count(*) from intermediate.int_customer_codes_clustered") > 0

    fault_server.crash()
    fault_server.restart()
    # crash recovery really happened: dbt's unlogged intermediate tables are empty now
    assert one(db, "select count(*) from intermediate.int_customer_codes_clustered") == 0
    assert one(db, "select count(*) from marts.customer_code_map") > 0  # a logged table survives

    after = fault_server.reco(db, "score", "--run-id", "after", "--as-of", str(score_day), *marts.args)
    assert after.returncode == 0, after.stderr
    assert _run(db, "after") == (items_before, suppressed_before)
    assert _recommended_while_suppressed(db, "after", "before") == 0


def test_after_a_crash_a_warehouse_whose_contact_history_emptied_is_refused_not_scored(
    fault_server, fault_db, score_day, marts
):
    db = fault_db
    rows_before = one(db, "select count(*) from marts.contact_history")
    with psycopg.connect(db.conninfo(), autocommit=True) as conn:
        conn.execute(UNLOGGED_CONTACT_HISTORY)
    assert one(db, "select count(*) from marts.contact_history") == rows_before > 0

    fault_server.crash()
    fault_server.restart()
    assert one(db, "select count(*) from marts.contact_history") == 0  # emptied by the crash
    marts.refresh(db)  # Parquet marts published from the damaged warehouse

    result = fault_server.reco(db, "score", "--run-id", "refused", "--as-of", str(score_day), *marts.args)
    assert result.returncode == 1
    assert "refusing to score" in result.stderr and marts.label("contact_history") in result.stderr
    assert "reco dbt build" in result.stderr
    assert one(db, "select count(*) from reco.reco_item where run_id = 'refused'") == 0
    assert one(db, "select status from reco.reco_run where run_id = 'refused'") == "failed"
