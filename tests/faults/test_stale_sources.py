"""A lagging export or a stale mart never lets a suppressed customer through: contacts dated
after the last sales line, contacts and opt-outs loaded after the last ``dbt build``, and a
contact dated after the scoring day all suppress, through real loads and real runs."""

from __future__ import annotations

from datetime import timedelta

from tests.faults.conftest import one, rows


def _recommended(db, run_id: str, n: int) -> list[str]:
    found = rows(
        db,
        "select distinct customer_code from reco.reco_item where run_id = %s order by customer_code limit %s",
        (run_id, n),
    )
    assert len(found) == n
    return [c for (c,) in found]


def _reason(db, run_id: str, customer: str) -> str | None:
    found = rows(
        db,
        "select reason_code from reco.audit_item where run_id = %s and kind = 'suppressed'"
        " and customer_code = %s",
        (run_id, customer),
    )
    return found[0][0] if found else None


def _items(db, run_id: str, customer: str) -> int:
    return one(
        db, "select count(*) from reco.reco_item where run_id = %s and customer_code = %s", (run_id, customer)
    )


def _score(fault_server, db, run_id: str, day) -> None:
    result = fault_server.reco(db, "score", "--run-id", run_id, "--as-of", str(day))
    assert result.returncode == 0, result.stderr


def test_contacts_after_the_last_sale_and_after_the_scoring_day_silence_with_or_without_a_rebuild(
    fault_server, fault_db, score_day, tmp_path
):
    db = fault_db
    _score(fault_server, db, "base", score_day)
    on_the_day, after_the_day = _recommended(db, "base", 2)
    last_sale = one(db, "select max(order_date) from raw.sales_line")
    assert score_day > last_sale  # both contacts are dated after the last sales line
    contacts = tmp_path / "contacts_late.csv"
    contacts.write_text(
        "customer_code,contact_date,channel,campaign_id,status\n"
        f"{on_the_day},{score_day},email,late-1,sent\n"
        f"{after_the_day},{score_day + timedelta(days=3)},email,late-2,sent\n"
    )
    loaded = fault_server.reco(db, "load", "contacts", str(contacts))
    assert loaded.returncode == 0, loaded.stderr

    # the mart was built before these contacts were loaded: the scorer reads raw.contact itself
    _score(fault_server, db, "stale", score_day)
    for customer in (on_the_day, after_the_day):
        assert _reason(db, "stale", customer) == "silence_window"
        assert _items(db, "stale", customer) == 0

    # and after a rebuild, the analysts' contact_history shows them too
    built = fault_server.reco(db, "dbt", "build", "--select", "contact_history")
    assert built.returncode == 0, built.stdout[-2000:]
    shown = one(db, "select count(*) from marts.contact_history where campaign_id like 'late-%%'")
    assert shown == 2
    _score(fault_server, db, "rebuilt", score_day)
    for customer in (on_the_day, after_the_day):
        assert _reason(db, "rebuilt", customer) == "silence_window"


def test_an_opt_out_or_a_bounce_loaded_after_the_last_build_suppresses_and_is_audited(
    fault_server, fault_db, score_day, tmp_path
):
    db = fault_db
    _score(fault_server, db, "base", score_day)
    opted_out, bounced = _recommended(db, "base", 2)
    emails = dict(
        rows(
            db,
            "select customer_code, email from marts.customer where customer_code in (%s, %s)",
            (opted_out, bounced),
        )
    )
    export = tmp_path / "customers_late.csv"
    export.write_text(
        "customer_code,email,is_contactable,is_bounced,is_optout,updated_at\n"
        f"{opted_out},{emails[opted_out]},1,0,1,{score_day} 08:00:00\n"
        f"{bounced},{emails[bounced]},1,1,0,{score_day} 08:00:00\n"
    )
    loaded = fault_server.reco(db, "load", "customers", str(export))
    assert loaded.returncode == 0, loaded.stderr
    # the mart still says both may be contacted
    assert one(
        db,
        "select bool_and(is_contactable) from marts.customer where customer_code in (%s, %s)",
        (opted_out, bounced),
    )

    _score(fault_server, db, "stale", score_day)
    assert _reason(db, "stale", opted_out) == "opted_out"
    assert _reason(db, "stale", bounced) == "bounced"
    assert _items(db, "stale", opted_out) == _items(db, "stale", bounced) == 0
    audited = {
        c
        for (c,) in rows(
            db,
            "select customer_code from reco.audit_item where run_id = 'stale'"
            " and reason_code = 'consent_newer_than_warehouse'",
        )
    }
    assert audited == {opted_out, bounced}
    # everyone else is scored exactly as before
    others = """select customer_code, scenario, rank, product_key from reco.reco_item
                where run_id = %s and customer_code not in (%s, %s) order by 1, 3"""
    assert rows(db, others, ("stale", opted_out, bounced)) == rows(db, others, ("base", opted_out, bounced))
