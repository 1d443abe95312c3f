"""A lagging export or a stale mart never lets a suppressed customer through: contacts dated
after the last sales line, contacts and opt-outs loaded after the last ``dbt build``, and a
contact dated after the scoring day all suppress, through real loads and real runs; with the
marts read from PostgreSQL and from Parquet files (``marts``: exported at each build, so as stale
as PostgreSQL's)."""

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


def _score(fault_server, db, run_id: str, day, marts) -> None:
    result = fault_server.reco(db, "score", "--run-id", run_id, "--as-of", str(day), *marts.args)
    assert result.returncode == 0, result.stderr


def test_contacts_after_the_last_sale_and_after_the_scoring_day_silence_with_or_without_a_rebuild(
    fault_server, fault_db, score_day, tmp_path, marts
):
    db = fault_db
    _score(fault_server, db, "base", score_day, marts)
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
    _score(fault_server, db, "stale", score_day, marts)
    for customer in (on_the_day, after_the_day):
        assert _reason(db, "stale", customer) == "silence_window"
        assert _items(db, "stale", customer) == 0

    # and after a rebuild, the analysts' contact_history shows them too
    built = fault_server.reco(db, "dbt", "build", "--select", "contact_history")
    assert built.returncode == 0, built.stdout[-2000:]
    marts.refresh(db)
    shown = one(db, "select count(*) from marts.contact_history where campaign_id like 'late-%%'")
    assert shown == 2
    _score(fault_server, db, "rebuilt", score_day, marts)
    for customer in (on_the_day, after_the_day):
        assert _reason(db, "rebuilt", customer) == "silence_window"


def test_an_opt_out_or_a_bounce_loaded_after_the_last_build_suppresses_and_is_audited(
    fault_server, fault_db, score_day, tmp_path, marts
):
    db = fault_db
    _score(fault_server, db, "base", score_day, marts)
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

    _score(fault_server, db, "stale", score_day, marts)
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


def test_the_tools_unsubscribe_and_hard_bounce_loaded_after_the_last_build_suppress_as_the_build_will(
    fault_server, fault_db, score_day, tmp_path, marts
):
    """The e-mailing tool's results (``reco load contacts``, statuses of the seed
    contact_statuses) suppress before the next ``dbt build``, by the same rule the build then
    applies: an unsubscribe opts out; a hard bounce bounces unless a record of the customer was
    updated after it; a soft bounce or an open changes nothing. The contacts are dated well
    before the silence window, so only consent can suppress."""
    db = fault_db
    _score(fault_server, db, "base", score_day, marts)
    unsubscribed, bounced, soft, readdressed = _recommended(db, "base", 4)
    long_ago = score_day - timedelta(days=120)
    contacts = tmp_path / "tool_results.csv"
    contacts.write_text(
        "customer_code,contact_date,channel,campaign_id,status\n"
        f"{unsubscribed},{long_ago},email,spring,Unsubscribed\n"
        f"{bounced},{long_ago},email,spring,hard_bounce\n"
        f"{soft},{long_ago},email,spring,soft_bounce\n"
        f"{soft},{long_ago},email,spring,opened\n"
        f"{readdressed},{long_ago},email,spring,hard_bounce\n"
    )
    assert fault_server.reco(db, "load", "contacts", str(contacts)).returncode == 0
    # the customer with the bounce gave a new address after it (a newer customer record)
    email = one(db, "select email from marts.customer where customer_code = %s", (readdressed,))
    update = tmp_path / "customers_new_address.csv"
    update.write_text(
        "customer_code,email,is_contactable,is_bounced,is_optout,updated_at\n"
        f"{readdressed},new.{email},1,0,0,{long_ago + timedelta(days=10)} 08:00:00\n"
    )
    assert fault_server.reco(db, "load", "customers", str(update)).returncode == 0

    def suppressions(run_id: str) -> dict:
        return {c: _reason(db, run_id, c) for c in (unsubscribed, bounced, soft, readdressed)}

    expected = {unsubscribed: "opted_out", bounced: "bounced", soft: None, readdressed: None}
    _score(fault_server, db, "stale", score_day, marts)
    assert suppressions("stale") == expected
    assert _items(db, "stale", unsubscribed) == _items(db, "stale", bounced) == 0
    for customer in (soft, readdressed):
        assert _items(db, "stale", customer) == _items(db, "base", customer) > 0
    audited = {
        c
        for (c,) in rows(
            db,
            "select customer_code from reco.audit_item where run_id = 'stale'"
            " and reason_code = 'consent_newer_than_warehouse'",
        )
    }
    assert audited == {unsubscribed, bounced}

    # the build then says the same, and the scorer has nothing left to tighten
    # (contact_history, a view over the code map, is dropped with it by the rebuild: select it too)
    built = fault_server.reco(db, "dbt", "run", "--select", "+customer", "+contact_history")
    assert built.returncode == 0, built.stdout[-2000:]
    marts.refresh(db)
    _score(fault_server, db, "rebuilt", score_day, marts)
    assert suppressions("rebuilt") == expected
    assert not one(
        db,
        "select count(*) from reco.audit_item where run_id = 'rebuilt'"
        " and reason_code = 'consent_newer_than_warehouse'",
    )
