"""reco outcomes: each run customer once, treated and control, from the warehouse's sales in
the window after the recorded send date; refuses an open window unless --partial."""

from __future__ import annotations

import json
from datetime import timedelta
from decimal import Decimal

import pytest

from reco.campaign.outcomes import measure_outcomes
from reco.cli.main import main
from reco.errors import RecoError
from tests.campaign.conftest import SEND_DAY, buy, close_window, codes, sql

WINDOW_LAST = SEND_DAY + timedelta(days=29)  # --window-days 30: [SEND_DAY, SEND_DAY + 30)


def _items(db, code: str) -> list[str]:
    rows = sql(
        db, "select product_key from reco.reco_item where run_id = 'r1' and customer_code = %s", (code,)
    )
    return [r[0] for r in rows]


def _same_family_not_recommended(db, code: str) -> str:
    rows = sql(
        db,
        """select p.product_key from marts.product as p
           join marts.product as rec on rec.family_crm = p.family_crm
           join reco.reco_item as ri on ri.product_key = rec.product_key
           where ri.run_id = 'r1' and ri.customer_code = %s
               and p.product_key not in (select product_key from reco.reco_item
                                         where run_id = 'r1' and customer_code = %s)
           order by 1 limit 1""",
        (code, code),
    )
    return rows[0][0]


def _outcome(db, code: str) -> dict:
    cols = (
        "grp, contacted, segment, window_start, window_days, is_partial, n_orders, revenue, "
        "bought_recommended, bought_recommended_family, days_to_first_purchase, campaign_id"
    )
    rows = sql(db, f"select {cols} from reco.run_outcome where run_id = 'r1' and customer_code = %s", (code,))
    return dict(zip([c.strip() for c in cols.split(",")], rows[0], strict=True))


def test_each_run_customer_gets_one_outcome_from_the_sales_in_the_window(sent, capsys):
    treated, control = sorted(codes(sent, "r1", "treatment")), sorted(codes(sent, "r1", "control"))
    buyer, late, control_buyer = treated[0], treated[1], control[0]
    recommended = _items(sent, buyer)[0]
    buy(sent, buyer, recommended, SEND_DAY + timedelta(days=2), 50.0, doc="A")
    buy(sent, buyer, "P000059", SEND_DAY + timedelta(days=2), 10.0, doc="A")  # same order
    buy(sent, buyer, "P000058", SEND_DAY + timedelta(days=9), 5.0, doc="B")
    buy(sent, late, _items(sent, late)[0], SEND_DAY - timedelta(days=1), 99.0)  # before the send
    buy(sent, late, _items(sent, late)[0], SEND_DAY + timedelta(days=30), 99.0)  # after the window
    buy(sent, control_buyer, _same_family_not_recommended(sent, control_buyer), SEND_DAY, 20.0)
    assert main(["outcomes", "--run-id", "r1", "--json"]) == 0
    summary = json.loads(capsys.readouterr().out)
    assert summary["is_partial"] is False and summary["window_start"] == SEND_DAY.isoformat()
    run_customers = sql(sent, "select count(*) from reco.run_customer where run_id = 'r1'")[0][0]
    assert summary["customers"] == run_customers == len(treated) + len(control)  # intention to treat
    assert summary["buyers"] == 2 and summary["purchase_lines"] == 4

    b = _outcome(sent, buyer)
    assert (b["grp"], b["contacted"], b["n_orders"], b["revenue"]) == ("treatment", True, 2, Decimal("65"))
    assert b["bought_recommended"] and b["bought_recommended_family"]
    assert (b["days_to_first_purchase"], b["window_start"], b["window_days"]) == (2, SEND_DAY, 30)
    assert b["campaign_id"] == "r1"
    c = _outcome(sent, control_buyer)
    assert (c["grp"], c["contacted"], c["n_orders"], c["days_to_first_purchase"]) == ("control", False, 1, 0)
    assert not c["bought_recommended"] and c["bought_recommended_family"]
    lt = _outcome(sent, late)
    assert (lt["n_orders"], lt["revenue"], lt["days_to_first_purchase"]) == (0, Decimal("0"), None)
    assert not lt["bought_recommended"] and not lt["is_partial"]

    events = sql(
        sent,
        "select customer_code, is_control, was_recommended, amount_ht from reco.outcome_event "
        "where run_id = 'r1' order by customer_code, amount_ht",
    )
    assert sorted(events) == sorted(
        [
            (buyer, False, False, Decimal("5")),
            (buyer, False, False, Decimal("10")),
            (buyer, False, True, Decimal("50")),
            (control_buyer, True, False, Decimal("20")),
        ]
    )
    segments = sql(
        sent,
        "select count(*) filter (where o.segment is distinct from c.segment), count(c.segment), "
        "count(*) filter (where c.segment is distinct from p.segment) "
        "from reco.run_outcome o join reco.run_customer c using (run_id, customer_code) "
        "left join marts.client_master_profile p using (customer_code)",
    )
    assert segments[0][0] == 0 and segments[0][1] > 0 and segments[0][2] == 0  # kept at scoring time


def test_a_rerun_replaces_the_rows_and_gives_the_same_numbers(sent):
    code = sorted(codes(sent, "r1", "treatment"))[0]
    buy(sent, code, _items(sent, code)[0], SEND_DAY + timedelta(days=3), 12.5)
    close_window(sent)
    query = (
        "select customer_code, grp, contacted, n_orders, revenue, bought_recommended, "
        "bought_recommended_family, days_to_first_purchase from reco.run_outcome order by 1"
    )
    events = "select customer_code, order_date, product_key, amount_ht from reco.outcome_event order by 1, 2"
    measure_outcomes(sent, "r1")
    first, first_events = sql(sent, query), sql(sent, events)
    measure_outcomes(sent, "r1")
    assert sql(sent, query) == first and sql(sent, events) == first_events


def test_a_window_the_sales_do_not_cover_is_refused_unless_partial(sent, capsys):
    code = sorted(codes(sent, "r1", "treatment"))[0]
    buy(sent, code, _items(sent, code)[0], SEND_DAY + timedelta(days=3), 12.5)
    assert main(["outcomes", "--run-id", "r1"]) == 1
    err = capsys.readouterr().err.strip()
    assert err.count("\n") == 0 and "--partial" in err
    assert f"({SEND_DAY} to {WINDOW_LAST})" in err and f"sales go to {SEND_DAY + timedelta(days=3)}" in err
    assert sql(sent, "select count(*) from reco.run_outcome") == [(0,)]
    assert main(["outcomes", "--run-id", "r1", "--partial", "--json"]) == 0
    assert json.loads(capsys.readouterr().out)["is_partial"] is True
    assert sql(sent, "select distinct is_partial from reco.run_outcome") == [(True,)]
    assert _outcome(sent, code)["n_orders"] == 1
    # a shorter window the sales do cover is not partial
    measure_outcomes(sent, "r1", window_days=4)
    assert sql(sent, "select distinct is_partial, window_days from reco.run_outcome") == [(False, 4)]


def test_a_customer_merged_since_the_scoring_keeps_their_purchases(sent):
    code = sorted(codes(sent, "r1", "treatment"))[0]
    sql(
        sent,
        "update marts.customer_code_map set customer_code = 'MASTER-X' where source_customer_code = %s",
        (code,),
    )
    buy(sent, "MASTER-X", "P000001", SEND_DAY + timedelta(days=5), 30.0)
    close_window(sent)
    measure_outcomes(sent, "r1")
    assert _outcome(sent, code)["revenue"] == Decimal("30")
    assert sql(sent, "select customer_code from reco.outcome_event where amount_ht = 30") == [(code,)]


def test_a_product_without_a_family_never_counts_as_a_recommended_family(sent):
    code = sorted(codes(sent, "r1", "treatment"))[0]
    items = _items(sent, code)
    other = sql(
        sent,
        "select product_key from marts.product where product_key <> all(%s) order by 1 limit 1",
        (items,),
    )[0][0]
    sql(sent, "update marts.product set family_crm = null where product_key = any(%s)", ([*items, other],))
    buy(sent, code, other, SEND_DAY, 8.0)
    close_window(sent)
    measure_outcomes(sent, "r1")
    o = _outcome(sent, code)
    assert o["n_orders"] == 1 and not o["bought_recommended"] and not o["bought_recommended_family"]


def test_a_run_without_recorded_contacts_or_that_failed_is_refused(scored, use_db):
    with pytest.raises(RecoError, match=r"^run 'r1' has no recorded contacts: run reco contacts record"):
        measure_outcomes(scored, "r1")
    sql(use_db, "insert into reco.reco_run (run_id, status, config_json) values ('bad', 'failed', '{}')")
    with pytest.raises(RecoError, match="did not succeed"):
        measure_outcomes(use_db, "bad")
    with pytest.raises(RecoError, match="no run 'nope'"):
        measure_outcomes(use_db, "nope")
    with pytest.raises(RecoError, match="--window-days 0"):
        measure_outcomes(use_db, "r1", window_days=0)
