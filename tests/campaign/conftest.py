"""A scored run on generated marts (tests/scoring/conftest.py), and helpers to read it back."""

from __future__ import annotations

from datetime import timedelta

import psycopg
import pytest

from reco.campaign.contacts import record_contacts
from reco.campaign.export import export_run
from reco.campaign.outcomes import measure_outcomes
from reco.scoring import run_scoring
from tests.scoring.conftest import AS_OF, marts  # noqa: F401  (the fixture)


def sql(db, query, params=()):
    with psycopg.connect(db.conninfo(), autocommit=True) as conn:
        cur = conn.execute(query, params)
        return cur.fetchall() if cur.description else []


def codes(db, run_id: str, grp: str) -> set[str]:
    rows = sql(
        db, "select customer_code from reco.run_customer where run_id = %s and grp = %s", (run_id, grp)
    )
    return {r[0] for r in rows}


#: The campaign tests are about what happens to a run's scenarios and items after scoring, so
#: they score with self-validation off: on these few hundred customers it cannot tell the
#: platform from REPEAT and would give everyone REBUY (docs/scoring.md, "Self-validation").
CAMPAIGN_SCORING = "[validation]\nenabled = false\n"


@pytest.fixture
def scored(use_db, marts, tmp_path):  # noqa: F811
    """Run ``r1`` scored as of AS_OF, every scenario on its learnt list."""
    config = tmp_path / "reco.toml"
    config.write_text(CAMPAIGN_SCORING)
    run_scoring(use_db, "r1", as_of=AS_OF, config_path=config)
    return use_db


#: the day run r1's campaign is sent (recorded by the ``sent`` fixture)
SEND_DAY = AS_OF + timedelta(days=1)


def buy(db, code: str, product: str, day, amount: float, doc: str | None = None) -> None:
    """One purchase line in marts.order_line, as the warehouse would show a later sale."""
    sql(
        db,
        """insert into marts.order_line (id, customer_code, product_key, order_date, doc_ref,
               quantity, unit_price, amount_ht, amount_ttc, line_type, is_purchase)
           select coalesce(max(id), 0) + 1, %s, %s, %s, %s, 1, %s, %s, %s * 1.2, 'sale', true
           from marts.order_line""",
        (code, product, day, doc or f"{code}-{day}", amount, amount, amount),
    )


@pytest.fixture
def sent(scored, tmp_path):
    """Run ``r1`` exported and its contacts recorded as sent on SEND_DAY."""
    export_run(scored, "r1", tmp_path / "r1.csv", as_of=SEND_DAY)
    record_contacts(scored, "r1", sent_at=SEND_DAY)
    return scored


def close_window(db, window_days: int = 30) -> None:
    """A sale on the window's last day by someone outside the run: the sales cover the window."""
    buy(db, "NOT-IN-RUN", "P000000", SEND_DAY + timedelta(days=window_days - 1), 1.0)


@pytest.fixture
def measured(sent):
    """Run ``r1`` with outcomes measured: in the window, a third of the treated customers and a
    fifth of the controls bought their first recommended product once."""
    sql(
        sent,
        """insert into marts.order_line (id, customer_code, product_key, order_date, doc_ref,
               quantity, unit_price, amount_ht, amount_ttc, line_type, is_purchase)
           select 1000000 + row_number() over (order by rc.customer_code), rc.customer_code,
               ri.product_key, %s::date + (row_number() over (order by rc.customer_code) %% 20)::int,
               'W-' || rc.customer_code, 1, 20 + length(rc.customer_code) %% 7,
               20 + (hashtext(rc.customer_code) %% 40 + 40) %% 40, 30, 'sale', true
           from reco.run_customer as rc
           join reco.reco_item as ri using (run_id, customer_code)
           where rc.run_id = 'r1' and ri.rank = 1
               and (hashtext(rc.customer_code) %% 15 + 15) %% 15
                   < case when rc.grp = 'treatment' then 5 else 3 end""",
        (SEND_DAY,),
    )
    close_window(sent)
    measure_outcomes(sent, "r1")
    return sent
