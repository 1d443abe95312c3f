"""The campaign loop's invariants, for any data hypothesis draws (part 9 of issue 13):

- a control customer is never exported and never gets a real (non-control) contact;
- nobody suppressed at export time is exported;
- outcomes are counted once per run and customer, and the purchase lines add up to them;
- recording, outcomes and export are idempotent.

Each example runs on its own clone of one small database, migrated, with marts and a scored
run, built once for the module (cloning a template is cheap; scoring is not).
"""

from __future__ import annotations

import tempfile
from contextlib import contextmanager
from datetime import timedelta
from pathlib import Path

import pytest
from hypothesis import HealthCheck, Phase, given, settings
from hypothesis import strategies as st

from reco.campaign.contacts import record_contacts
from reco.campaign.export import export_run
from reco.campaign.outcomes import measure_outcomes
from reco.scoring import run_scoring
from tests.campaign.conftest import SEND_DAY, close_window, sql
from tests.campaign.test_export import _contact, _opt_out
from tests.conftest import _drop, _fresh
from tests.scoring.conftest import AS_OF
from tests.support.synthetic_marts import Shape, generate_marts, write_marts

#: no shrinking: each step of it clones a database, and a failure would cost minutes of CI;
#: the failing example is reported as drawn
SETTINGS = settings(
    max_examples=6,
    deadline=None,
    phases=[Phase.explicit, Phase.reuse, Phase.generate],
    suppress_health_check=[HealthCheck.function_scoped_fixture],
)


@pytest.fixture(scope="module")
def scored_template(pg_admin, migrated_template):
    """A database with generated marts and run r1 scored, used as a template."""
    db = _fresh(pg_admin, "reco_inv", template=migrated_template)
    write_marts(db, generate_marts(Shape(n_customers=160, n_products=40), seed=11, as_of=AS_OF))
    run_scoring(db, "r1", as_of=AS_OF)
    yield db.url.database
    _drop(pg_admin, db.url.database)


@contextmanager
def _clone(pg_admin, template: str):
    db = _fresh(pg_admin, "reco_invx", template=template)
    try:
        yield db
    finally:
        _drop(pg_admin, db.url.database)


def _run_codes(db) -> tuple[list[str], list[str]]:
    rows = sql(db, "select customer_code, grp from reco.run_customer where run_id = 'r1' order by 1")
    return [c for c, g in rows if g == "treatment"], [c for c, g in rows if g == "control"]


def _picks(codes: list[str], indices: list[int]) -> set[str]:
    return {codes[i % len(codes)] for i in indices} if codes else set()


@SETTINGS
@given(
    opt_outs=st.lists(st.integers(0, 10_000), max_size=6),
    contacted=st.lists(st.integers(0, 10_000), max_size=6),
    control_opt_outs=st.lists(st.integers(0, 10_000), max_size=3),
    fmt=st.sampled_from(["csv", "parquet"]),
)
def test_controls_and_suppressed_customers_are_never_exported_and_recording_is_idempotent(
    pg_admin, scored_template, opt_outs, contacted, control_opt_outs, fmt
):
    with _clone(pg_admin, scored_template) as db, tempfile.TemporaryDirectory() as tmp:
        treated, control = _run_codes(db)
        suppressed = _picks(treated, opt_outs) | _picks(control, control_opt_outs)
        for code in suppressed:
            _opt_out(db, code)
        recent = _picks(treated, contacted)
        for code in recent:
            _contact(db, code, SEND_DAY)
        first, second = Path(tmp) / f"a.{fmt}", Path(tmp) / f"b.{fmt}"
        summary = export_run(db, "r1", first, fmt=fmt, as_of=SEND_DAY)
        exported = {
            c
            for (c,) in sql(
                db,
                "select customer_code from reco.run_customer "
                "where run_id = 'r1' and export_status = 'exported'",
            )
        }
        assert exported.isdisjoint(control)
        assert exported.isdisjoint(suppressed | recent)
        assert summary.exported == len(exported)
        audited = {
            c
            for (c,) in sql(db, "select customer_code from reco.audit_item where kind = 'export_suppressed'")
        }
        assert audited >= (suppressed | recent) - set(control)  # each one left out says why
        export_run(db, "r1", second, fmt=fmt, as_of=SEND_DAY)
        assert first.read_bytes() == second.read_bytes()

        record_contacts(db, "r1", sent_at=SEND_DAY)
        query = (
            "select customer_code, contact_date, channel, campaign_id, scenario, is_control "
            "from reco.contact_event where run_id = 'r1' order by 1"
        )
        recorded = sql(db, query)
        record_contacts(db, "r1", sent_at=SEND_DAY + timedelta(days=3))  # again: adds nothing
        assert sql(db, query) == recorded
        real = {c for c, *_, is_control in recorded if not is_control}
        assert real == exported and real.isdisjoint(control)
        assert {c for c, *_, is_control in recorded if is_control} == set(control)


purchase = st.tuples(
    st.integers(0, 10_000),  # customer
    st.integers(-5, 40),  # day from the send date
    st.integers(0, 39),  # product
    st.integers(1, 20_000),  # amount in cents
    st.integers(0, 2),  # order number of the customer that day
)


@SETTINGS
@given(purchases=st.lists(purchase, max_size=40), window_days=st.integers(1, 35))
def test_outcomes_count_each_customer_once_add_up_to_the_lines_and_a_rerun_changes_nothing(
    pg_admin, scored_template, purchases, window_days
):
    with _clone(pg_admin, scored_template) as db, tempfile.TemporaryDirectory() as tmp:
        export_run(db, "r1", Path(tmp) / "r1.csv", as_of=SEND_DAY)
        record_contacts(db, "r1", sent_at=SEND_DAY)
        codes = [
            c
            for (c,) in sql(db, "select customer_code from reco.run_customer where run_id = 'r1' order by 1")
        ]
        for n, (who, day, product, cents, order) in enumerate(purchases):
            code = codes[who % len(codes)]
            sql(
                db,
                """insert into marts.order_line (id, customer_code, product_key, order_date, doc_ref,
                       quantity, unit_price, amount_ht, amount_ttc, line_type, is_purchase)
                   values (%s, %s, %s, %s, %s, 1, %s, %s, %s, 'sale', true)""",
                (
                    10_000_000 + n,
                    code,
                    f"P{product:06d}",
                    SEND_DAY + timedelta(days=day),
                    f"{code}-{day}-{order}",
                    cents / 100,
                    cents / 100,
                    cents / 100,
                ),
            )
        close_window(db, window_days)
        measure_outcomes(db, "r1", window_days=window_days)
        rows = sql(
            db,
            "select customer_code, grp, n_orders, revenue, bought_recommended, days_to_first_purchase "
            "from reco.run_outcome where run_id = 'r1' order by 1",
        )
        assert [r[0] for r in rows] == codes  # every run customer, once
        lines = sql(
            db,
            """select customer_code, count(distinct doc_ref), sum(amount_ht), bool_or(was_recommended),
                   min(order_date) - %s
               from reco.outcome_event where run_id = 'r1' group by 1 order by 1""",
            (SEND_DAY,),
        )
        from_lines = {c: (n, total, rec, first) for c, n, total, rec, first in lines}
        for code, _grp, n_orders, revenue, bought, first in rows:
            assert (n_orders, revenue, bought, first) == from_lines.get(code, (0, 0, False, None))
        expected = {  # the draw itself, counted independently
            codes[w % len(codes)] for w, day, *_ in purchases if 0 <= day < window_days
        }
        assert {c for c, _g, n, *_ in rows if n > 0} == expected
        measure_outcomes(db, "r1", window_days=window_days)
        assert (
            sql(
                db,
                "select customer_code, grp, n_orders, revenue, bought_recommended, days_to_first_purchase "
                "from reco.run_outcome where run_id = 'r1' order by 1",
            )
            == rows
        )
