"""``reco outcomes``: what each customer of a run bought in the campaign's outcome window.

- The window is ``[send date, send date + window_days)``; the send date is the run's recorded
  contact date (``reco.contact_event``, the earliest of the run's rows when several days were
  recorded), the same day for treated and control customers.
- Intention to treat: every customer of ``reco.run_customer`` gets one ``reco.run_outcome``
  row, treated and control alike, whether or not the export kept them; ``contacted`` says who
  really was contacted (a non-control contact of the run).
- Purchases come from the warehouse's ``marts.order_line`` (purchase lines, ``is_purchase``).
  The warehouse puts every line on its *current* master customer; a run customer's code is
  mapped through ``marts.customer_code_map`` first, so that a customer merged into another
  since the scoring still finds their purchases (a code the map does not know stands for
  itself, as everywhere in reco). Each purchase line also lands in ``reco.outcome_event``,
  under the run customer's code, with ``was_recommended``.
- The window must be over in the data: the warehouse's latest order date must reach the
  window's last day, otherwise the command refuses, unless ``partial`` is asked, and then
  every row says ``is_partial``.
- One transaction replaces the run's rows in both tables: a rerun gives the same numbers.
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass

from reco.campaign import require_run
from reco.db.resolver import Database
from reco.errors import RecoError
from reco.scoring.inputs import adbc_connect, fetch, marts_schema

DEFAULT_WINDOW_DAYS = 30

#: The run's customers, on their current master codes, with their campaign id. $1: run id.
_CUSTOMERS_DDL = """
create temporary table _outcome_customer (
    customer_code text primary key, master_code text, grp text, scenario text, segment text,
    contacted boolean, campaign_id text
) on commit drop
"""
_CUSTOMERS_SQL = """
insert into _outcome_customer
select
    rc.customer_code,
    coalesce(code_map.customer_code, rc.customer_code) as master_code,
    rc.grp,
    rc.scenario,
    rc.segment,
    ce.run_id is not null and not ce.is_control as contacted,
    coalesce(ce.campaign_id, run_campaign.campaign_id) as campaign_id
from reco.run_customer as rc
left join {schema}.customer_code_map as code_map
    on code_map.source_customer_code = rc.customer_code
left join reco.contact_event as ce
    on ce.run_id = rc.run_id and ce.customer_code = rc.customer_code
cross join (
    select min(campaign_id) as campaign_id from reco.contact_event where run_id = $1
) as run_campaign
where rc.run_id = $1
"""

#: Every purchase line of the run's customers in the window, with was_recommended.
#: $1 run id, $2 window start, $3 window days.
_EVENTS_SQL = """
insert into reco.outcome_event
    (run_id, campaign_id, customer_code, is_control, order_date, doc_ref, product_key,
     was_recommended, amount_ht)
select
    $1,
    oc.campaign_id,
    oc.customer_code,
    oc.grp = 'control',
    ol.order_date,
    ol.doc_ref,
    ol.product_key,
    exists (
        select 1 from reco.reco_item as ri
        where ri.run_id = $1 and ri.customer_code = oc.customer_code
            and ri.product_key = ol.product_key
    ),
    ol.amount_ht
from _outcome_customer as oc
join {schema}.order_line as ol
    on ol.customer_code = oc.master_code
where ol.is_purchase
    and ol.order_date >= $2::date
    and ol.order_date < $2::date + $3::int
order by oc.customer_code, ol.order_date, ol.id
"""

#: One row per run customer from the events just written (customers without any get zeros).
#: $1 run id, $2 window start, $3 window days, $4 partial.
_OUTCOMES_SQL = """
insert into reco.run_outcome
    (run_id, customer_code, campaign_id, grp, scenario, segment, contacted, window_start,
     window_days, is_partial, n_orders, revenue, bought_recommended, bought_recommended_family,
     days_to_first_purchase, measured_at)
with recommended_family as (
    select distinct ri.customer_code, p.family_crm
    from reco.reco_item as ri
    join {schema}.product as p on p.product_key = ri.product_key
    where ri.run_id = $1 and p.family_crm is not null
),
events as (
    select
        oe.customer_code,
        oe.order_date,
        coalesce(oe.doc_ref, 'day ' || oe.order_date::text) as order_ref,
        oe.amount_ht,
        oe.was_recommended,
        rf.family_crm is not null as in_recommended_family
    from reco.outcome_event as oe
    left join {schema}.product as p on p.product_key = oe.product_key
    left join recommended_family as rf
        on rf.customer_code = oe.customer_code and rf.family_crm = p.family_crm
    where oe.run_id = $1
),
per_customer as (
    select
        customer_code,
        count(distinct order_ref) as n_orders,
        sum(amount_ht) as revenue,
        bool_or(was_recommended) as bought_recommended,
        bool_or(in_recommended_family) as bought_recommended_family,
        min(order_date) as first_purchase
    from events
    group by customer_code
)
select
    $1,
    oc.customer_code,
    oc.campaign_id,
    oc.grp,
    oc.scenario,
    oc.segment,
    oc.contacted,
    $2::date,
    $3::int,
    $4::boolean,
    coalesce(pc.n_orders, 0),
    coalesce(pc.revenue, 0),
    coalesce(pc.bought_recommended, false),
    coalesce(pc.bought_recommended_family, false),
    pc.first_purchase - $2::date,
    now()
from _outcome_customer as oc
left join per_customer as pc using (customer_code)
order by oc.customer_code
"""


@dataclass
class OutcomeSummary:
    run_id: str
    campaign_id: str | None
    window_start: dt.date
    window_days: int
    #: the warehouse's latest order date (what says whether the window is over)
    sales_until: dt.date | None
    is_partial: bool
    customers: int
    purchase_lines: int
    buyers: int

    @property
    def window_end(self) -> dt.date:
        """The window's first day after it (exclusive end)."""
        return self.window_start + dt.timedelta(days=self.window_days)

    def to_dict(self) -> dict:
        return {
            "run_id": self.run_id,
            "campaign_id": self.campaign_id,
            "window_start": self.window_start.isoformat(),
            "window_end_exclusive": self.window_end.isoformat(),
            "window_days": self.window_days,
            "sales_until": self.sales_until and self.sales_until.isoformat(),
            "is_partial": self.is_partial,
            "customers": self.customers,
            "purchase_lines": self.purchase_lines,
            "buyers": self.buyers,
        }


def send_date(conn, run_id: str, *, unless_succeeded: str) -> tuple[dt.date, str | None]:
    """The day ``run_id``'s campaign was sent (its earliest recorded contact) and its campaign
    id; a run that does not exist, did not succeed (``unless_succeeded`` says what follows)
    or has no recorded contacts is one clear error."""
    require_run(conn, run_id, unless_succeeded=unless_succeeded)
    sent = fetch(
        conn,
        """select min(contact_date) as sent, min(campaign_id)::text as campaign_id
        from reco.contact_event where run_id = $1""",
        (run_id,),
    ).row(0, named=True)
    if sent["sent"] is None:
        raise RecoError(
            f"run {run_id!r} has no recorded contacts: run reco contacts record --run-id {run_id} first"
        )
    return sent["sent"], sent["campaign_id"]


def measure_outcomes(
    db: Database,
    run_id: str,
    *,
    window_days: int = DEFAULT_WINDOW_DAYS,
    partial: bool = False,
    schema_prefix: str = "",
) -> OutcomeSummary:
    """Write the run's ``reco.run_outcome`` and ``reco.outcome_event`` rows (replacing earlier
    ones); refuse a window the warehouse's sales do not cover yet unless ``partial``."""
    if window_days < 1:
        raise RecoError(f"--window-days {window_days}: expected a whole number of days, at least 1")
    schema = marts_schema(schema_prefix)
    with adbc_connect(db) as conn:
        fetch(conn, "set transaction isolation level repeatable read")
        start, campaign_id = send_date(conn, run_id, unless_succeeded="it has no outcomes")
        end = start + dt.timedelta(days=window_days)
        sales_until = fetch(conn, f"select max(order_date) as d from {schema}.order_line where is_purchase")[
            "d"
        ][0]
        is_partial = sales_until is None or sales_until < end - dt.timedelta(days=1)
        if is_partial and not partial:
            raise RecoError(
                f"the outcome window of run {run_id!r} ({start} to {end - dt.timedelta(days=1)}) is still"
                f" open: the warehouse's sales go to {sales_until or 'no date (no sales)'}; load and build"
                " the later sales (reco load, reco dbt build), or measure it so far with --partial"
            )
        params = (run_id, start.isoformat(), window_days, is_partial)
        with conn.cursor() as cur:
            cur.execute(_CUSTOMERS_DDL)
            cur.execute(_CUSTOMERS_SQL.format(schema=schema), parameters=params[:1])
            cur.execute("delete from reco.outcome_event where run_id = $1", parameters=params[:1])
            cur.execute("delete from reco.run_outcome where run_id = $1", parameters=params[:1])
            cur.execute(_EVENTS_SQL.format(schema=schema), parameters=params[:3])
            cur.execute(_OUTCOMES_SQL.format(schema=schema), parameters=params)
        counts = fetch(
            conn,
            """select count(*) as customers, count(*) filter (where n_orders > 0) as buyers,
                (select count(*) from reco.outcome_event where run_id = $1) as lines
            from reco.run_outcome where run_id = $1""",
            (run_id,),
        ).row(0, named=True)
        conn.commit()
    return OutcomeSummary(
        run_id,
        campaign_id,
        start,
        window_days,
        sales_until,
        is_partial,
        counts["customers"],
        counts["lines"],
        counts["buyers"],
    )
