"""A campaign response model with a known truth: the period after a recorded campaign, written
as the demo merchant's ERP would export it, so that the whole loop can be tested.

The model, per customer (docs/campaigns.md, "Simulator"):

- **Baseline.** Everyone buys at their own pace, as the demo generator's customers do (each
  re-orders at a personal interval): a customer who placed ``k`` orders in the year before the
  send day places at least one in the ``days`` that follow with probability
  ``p0 = 1 - exp(-(k + BASELINE_PRIOR_ORDERS) / 365 * days)``. That order is one line of the
  product they bought most often that year, at the last price they paid, in the quantity that
  comes closest to their average order (a customer with no purchase that year, a prospect,
  orders the run's first recommended product, one unit).
- **Campaign.** Only customers really contacted (a non-control ``reco.contact_event`` of the
  run) respond, with the lift ``L`` of their scenario:
  ``L > 0``: a contacted customer who would not have bought buys the run's first recommended
  product (one unit at its price) with probability ``L``;
  ``L < 0``: a contacted customer who would have bought does not, with probability ``-L``;
  ``L = 0``: the campaign changes nothing.
- Control customers, treated customers the export left out, and everyone outside the run
  behave as the baseline.

The truth follows exactly from these probabilities: a contacted customer's conversion
probability moves by ``L (1 - p0)`` (``L p0`` when ``L < 0``) and their expected revenue by
``L (1 - p0) × price`` (``L p0 × baseline order`` when ``L < 0``); everyone else's by nothing.
The report compares the groups as drawn (intention to treat), so the true uplift of a scenario
is the mean of these moves over its **treatment group**, contacted or not.
"""

from __future__ import annotations

import datetime as dt
import json
import math
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import polars as pl

from reco.campaign.outcomes import send_date
from reco.db.models.reco import SCENARIOS
from reco.db.resolver import Database
from reco.demo_data import vocab
from reco.demo_data.generate import SALES_COLUMNS, SALES_DIALECT, write_export
from reco.errors import RecoError
from reco.scoring.inputs import adbc_connect, fetch, marts_schema

DEFAULT_DAYS = 30
#: the baseline reads the year before the send day
HISTORY_DAYS = 365
#: orders per year taken for a customer with none in the history year (a prospect's or a
#: lapsed customer's small chance to come back): a 30-day window gives p0 = 0.8 %
BASELINE_PRIOR_ORDERS = 0.1
#: the lift per scenario when none is given: positive, zero and negative ones, so that the demo
#: shows each kind (``--lift`` overrides any of them)
DEFAULT_LIFTS = {"REBUY": 0.06, "CROSS_SELL": 0.04, "UPSELL": 0.03, "WINBACK": 0.0, "NURTURE": -0.2}
SALES_FILE = "campaign_sales.csv"
TRUTH_FILE = "campaign_truth.json"
#: the columns a population frame has (one row per customer), what the model needs
POPULATION_COLUMNS = {
    "customer_code": pl.String,
    "scenario": pl.String,  # null: not in the run
    "grp": pl.String,  # treatment | control | null (not in the run)
    "segment": pl.String,
    "contacted": pl.Boolean,
    "orders_last_year": pl.Int64,
    "base_amount": pl.Float64,  # the baseline order's amount excl. tax (null: nothing to buy)
    "rec_amount": pl.Float64,  # the first recommended product's price (null: none, or no price)
    "base_is_recommended": pl.Boolean,  # the baseline order's product is one the run recommended
}


def parse_lifts(text: str | None) -> dict[str, float]:
    """``"REBUY=0.05,WINBACK=0,NURTURE=-0.1"`` over :data:`DEFAULT_LIFTS`."""
    lifts = dict(DEFAULT_LIFTS)
    for part in (p.strip() for p in (text or "").split(",")):
        if not part:
            continue
        name, sep, value = part.partition("=")
        name = name.strip().upper()
        if not sep or name not in SCENARIOS:
            raise RecoError(
                f"--lift {part!r}: expected SCENARIO=NUMBER with SCENARIO one of {', '.join(SCENARIOS)}"
            )
        try:
            lift = float(value)
        except ValueError:
            raise RecoError(f"--lift {part!r}: expected a number between -1 and 1 after '='") from None
        if not -1 <= lift <= 1 or math.isnan(lift):
            raise RecoError(f"--lift {part!r}: expected a number between -1 and 1, got {value.strip()}")
        lifts[name] = lift
    return lifts


def baseline_probability(orders_last_year: pl.Expr, days: int) -> pl.Expr:
    """The chance of at least one order in ``days`` days at the customer's own yearly pace."""
    rate = (orders_last_year.cast(pl.Float64) + BASELINE_PRIOR_ORDERS) / HISTORY_DAYS
    return 1.0 - (-rate * days).exp()


def respond(population: pl.LazyFrame, lifts: dict[str, float], days: int) -> pl.LazyFrame:
    """Each customer's probabilities under the model: ``p0`` (baseline), ``lift`` (the one that
    applies to them: 0 unless contacted), ``p_convert``, and the moves ``delta_conversion`` and
    ``delta_revenue`` the campaign causes in expectation."""
    can_buy = pl.col("base_amount").is_not_null()
    scenario_lift = pl.col("scenario").replace_strict(lifts, default=0.0, return_dtype=pl.Float64)
    lift = (
        pl.when(pl.col("contacted") & (scenario_lift > 0) & pl.col("rec_amount").is_not_null())
        .then(scenario_lift)
        .when(pl.col("contacted") & (scenario_lift < 0))
        .then(scenario_lift)
        .otherwise(0.0)
    )
    p0 = pl.when(can_buy).then(baseline_probability(pl.col("orders_last_year"), days)).otherwise(0.0)
    return (
        population.with_columns(p0=p0, lift=lift)
        .with_columns(
            delta_conversion=pl.when(pl.col("lift") >= 0)
            .then(pl.col("lift") * (1 - pl.col("p0")))
            .otherwise(pl.col("lift") * pl.col("p0")),
            delta_revenue=pl.when(pl.col("lift") > 0)
            .then(pl.col("lift") * (1 - pl.col("p0")) * pl.col("rec_amount"))
            .when(pl.col("lift") < 0)
            .then(pl.col("lift") * pl.col("p0") * pl.col("base_amount"))
            .otherwise(0.0),
        )
        .with_columns(p_convert=pl.col("p0") + pl.col("delta_conversion"))
    )


def draw(responded: pl.DataFrame, rng: np.random.Generator) -> pl.DataFrame:
    """One period drawn from the model (rows in the given order): adds ``buys_baseline``,
    ``buys_recommended`` (the campaign's extra purchase), ``converted``, ``n_orders``,
    ``revenue``, ``bought_recommended`` and ``day_u`` (uniform in [0, 1): where in the period
    the purchase falls)."""
    u = rng.random((responded.height, 3))
    return (
        responded.with_columns(_u1=pl.Series(u[:, 0]), _u2=pl.Series(u[:, 1]), day_u=pl.Series(u[:, 2]))
        .with_columns(
            buys_baseline=(pl.col("_u1") < pl.col("p0"))
            & ~((pl.col("lift") < 0) & (pl.col("_u2") < -pl.col("lift"))),
            buys_recommended=(pl.col("_u1") >= pl.col("p0"))
            & (pl.col("lift") > 0)
            & (pl.col("_u2") < pl.col("lift")),
        )
        .with_columns(
            converted=pl.col("buys_baseline") | pl.col("buys_recommended"),
            n_orders=(pl.col("buys_baseline") | pl.col("buys_recommended")).cast(pl.Int32),
            revenue=pl.when(pl.col("buys_baseline"))
            .then(pl.col("base_amount"))
            .when(pl.col("buys_recommended"))
            .then(pl.col("rec_amount"))
            .otherwise(0.0),
            bought_recommended=pl.col("buys_recommended")
            | (pl.col("buys_baseline") & pl.col("base_is_recommended").fill_null(False)),
        )
        .drop("_u1", "_u2")
    )


def truth(responded: pl.DataFrame, by: list[str] | tuple[str, ...] = ("scenario",)) -> pl.DataFrame:
    """The true intention-to-treat uplift per ``by`` key: the mean move of the treatment group
    (conversion rate and revenue per customer), with the group sizes and expected rates."""
    run = responded.filter(pl.col("grp").is_not_null())
    treated = pl.col("grp") == "treatment"
    control = pl.col("grp") == "control"
    aggs = [
        treated.sum().alias("n_treatment"),
        control.sum().alias("n_control"),
        pl.col("contacted").filter(treated).mean().alias("contacted_share"),
        pl.col("p_convert").filter(treated).mean().alias("treatment_conversion"),
        pl.col("p0").filter(control).mean().alias("control_conversion"),
        pl.col("delta_conversion").filter(treated).mean().alias("conversion_abs_uplift"),
        pl.col("delta_revenue").filter(treated).mean().alias("revenue_per_customer_abs_uplift"),
    ]
    if by:
        return run.group_by(list(by)).agg(aggs).sort(list(by))
    return run.select(aggs)


# --- the period after a recorded run, from the database ------------------------------------


@dataclass
class CampaignPeriod:
    run_id: str
    window_start: dt.date
    days: int
    seed: int
    lifts: dict[str, float]
    sales_path: Path
    truth_path: Path
    lines: int
    customers: int
    truth: dict


_RUN_CUSTOMERS_SQL = """
select rc.customer_code::text as customer_code, rc.scenario::text as scenario,
       rc.grp::text as grp, rc.segment::text as segment,
       coalesce(ce.run_id is not null and not ce.is_control, false) as contacted
from reco.run_customer as rc
left join reco.contact_event as ce on ce.run_id = rc.run_id and ce.customer_code = rc.customer_code
where rc.run_id = $1
"""
#: Per customer who bought in the history year: orders, and the product bought most often with
#: the last price paid for it. $1: the first day of the history year, $2: the send day.
_HISTORY_SQL = """
with lines as (
    select customer_code, doc_ref, order_date, id, amount_ht::float8 as amount_ht,
           unit_price::float8 as unit_price, product_key, product_label
    from {schema}.order_line
    where is_purchase and order_date >= $1::date and order_date < $2::date
),
orders as (
    select customer_code, count(distinct doc_ref) as orders_last_year,
           sum(amount_ht) / count(distinct doc_ref) as mean_order
    from lines group by customer_code
),
products as (
    select customer_code, product_key, product_label, count(*) as n, max(order_date) as last_day,
           (array_agg(unit_price order by order_date desc, id desc))[1] as last_price
    from lines group by customer_code, product_key, product_label
),
usual as (
    select distinct on (customer_code) customer_code, product_key, product_label, last_price
    from products
    order by customer_code, n desc, last_day desc, product_key nulls last, product_label
)
select o.customer_code::text as customer_code, o.orders_last_year::int8 as orders_last_year,
       o.mean_order::float8 as mean_order, u.product_key::text as base_product_key,
       u.product_label::text as base_product_label, u.last_price::float8 as base_price
from orders as o join usual as u using (customer_code)
"""
#: The run's first recommended product of each customer, with its label and price; and every
#: product the run recommended to them (for bought_recommended).
_RECOMMENDED_SQL = """
select ri.customer_code::text as customer_code, ri.product_key::text as rec_product_key,
       p.product_label::text as rec_product_label, p.unit_price::float8 as rec_price,
       (select array_agg(r.product_key::text order by r.rank) from reco.reco_item as r
        where r.run_id = ri.run_id and r.customer_code = ri.customer_code) as recommended
from reco.reco_item as ri
left join {schema}.product as p on p.product_key = ri.product_key
where ri.run_id = $1 and ri.rank = 1
"""


def _money(expr: pl.Expr) -> pl.Expr:
    return expr.round(2)


def read_population(db: Database, run_id: str, *, schema_prefix: str = "") -> tuple[pl.DataFrame, dt.date]:
    """The model's population for the period after ``run_id``'s campaign (everyone who bought
    in the year before the send day, and every customer of the run), with the baseline order
    and the recommended product of each, and the send day."""
    schema = marts_schema(schema_prefix)
    with adbc_connect(db) as conn:
        fetch(conn, "set transaction isolation level repeatable read, read only")
        window_start, _ = send_date(conn, run_id, unless_succeeded="no campaign to simulate")
        since = window_start - dt.timedelta(days=HISTORY_DAYS)
        customers = fetch(conn, _RUN_CUSTOMERS_SQL, (run_id,))
        history = fetch(
            conn, _HISTORY_SQL.format(schema=schema), (since.isoformat(), window_start.isoformat())
        )
        recommended = fetch(conn, _RECOMMENDED_SQL.format(schema=schema), (run_id,))
        countries = fetch(
            conn,
            f"select customer_code::text as customer_code, country::text as country from {schema}.customer",
        )
    population = (
        customers.lazy()
        .join(history.lazy(), on="customer_code", how="full", coalesce=True)
        .join(recommended.lazy(), on="customer_code", how="left")
        .join(countries.lazy(), on="customer_code", how="left")
        .with_columns(
            contacted=pl.col("contacted").fill_null(False),
            orders_last_year=pl.col("orders_last_year").fill_null(0),
            rec_price=_money(pl.col("rec_price")),
            base_price=_money(pl.col("base_price")),
        )
        .with_columns(
            # the usual product, else (no purchase that year) the first recommended one, 1 unit
            base_product_key=pl.when(pl.col("base_price").is_not_null())
            .then(pl.col("base_product_key"))
            .otherwise(pl.col("rec_product_key")),
            base_product_label=pl.when(pl.col("base_price").is_not_null())
            .then(pl.col("base_product_label"))
            .otherwise(pl.col("rec_product_label")),
            base_quantity=pl.when(pl.col("base_price") > 0)
            .then((pl.col("mean_order") / pl.col("base_price")).round(0).clip(lower_bound=1))
            .otherwise(1.0)
            .cast(pl.Int64),
            base_price=pl.coalesce("base_price", "rec_price"),
        )
        .with_columns(
            base_amount=_money(pl.col("base_quantity") * pl.col("base_price")),
            rec_amount=pl.col("rec_price"),
            base_is_recommended=pl.col("recommended").list.contains(pl.col("base_product_key")),
        )
        .sort("customer_code")
    )
    return population.collect(), window_start


def sales_lines(
    drawn: pl.DataFrame, window_start: dt.date, days: int, first_seq: dict[int, int]
) -> pl.DataFrame:
    """The period's ERP lines (``SALES_COLUMNS``): one invoice per buyer, numbered
    ``FA<year>-<7 digits>`` after the highest number of that year already in the sales."""
    start = pl.lit(window_start)
    baseline = drawn.filter("buys_baseline").select(
        "customer_code", "country", "day_u",
        product_key="base_product_key", product_label="base_product_label",
        quantity="base_quantity", unit_price="base_price",
    )  # fmt: skip
    extra = drawn.filter("buys_recommended").select(
        "customer_code", "country", "day_u",
        product_key="rec_product_key", product_label="rec_product_label",
        quantity=pl.lit(1, pl.Int64), unit_price="rec_price",
    )  # fmt: skip
    last_day = window_start + dt.timedelta(days=days - 1)
    lines = (
        pl.concat([baseline, extra])
        .with_columns(order_date=start + pl.duration(days=(pl.col("day_u") * days).floor().cast(pl.Int64)))
        .sort("order_date", "customer_code")
        # The export reaches the period's last day (the warehouse takes its latest sale as
        # today): if no purchase fell on it, the latest one moves there. A purchase moved within
        # the window changes no count, revenue or conversion the report measures.
        .with_columns(
            order_date=pl.when(pl.int_range(pl.len()) == pl.len() - 1)
            .then(pl.lit(last_day))
            .otherwise(pl.col("order_date"))
        )
        .with_columns(year=pl.col("order_date").dt.year())
    )
    offset = pl.col("year").replace_strict(first_seq, default=1, return_dtype=pl.Int64)
    amount_ht = _money(pl.col("quantity") * pl.col("unit_price"))
    return lines.with_columns(
        doc_ref=pl.format(
            "FA{}-{}",
            pl.col("year"),
            (offset + pl.int_range(pl.len()).over("year")).cast(pl.String).str.zfill(7),
        ),
        amount_ht=amount_ht,
        amount_ttc=_money(amount_ht * (1 + vocab.VAT_RATE)),
    ).select(SALES_COLUMNS)


def _next_doc_numbers(db: Database, window_start: dt.date, days: int, schema: str) -> dict[int, int]:
    years = sorted({window_start.year, (window_start + dt.timedelta(days=days - 1)).year})
    first = {}
    with adbc_connect(db) as conn:
        for year in years:
            top = fetch(
                conn,
                f"""select max(substr(doc_ref, {len(f"FA{year}-") + 1})::int8) as n
                from {schema}.order_line where doc_ref ~ '^FA{year}-[0-9]+$'""",
            )["n"][0]
            first[year] = (top or 0) + 1
    return first


def simulate_campaign(
    db: Database,
    run_id: str,
    out_dir: Path,
    *,
    lifts: dict[str, float] | None = None,
    days: int = DEFAULT_DAYS,
    seed: int = 42,
    schema_prefix: str = "",
) -> CampaignPeriod:
    """Write the period after ``run_id``'s campaign as an ERP sales export
    (``campaign_sales.csv``, the demo's sales dialect) and its truth (``campaign_truth.json``)."""
    if days < 1:
        raise RecoError(f"--days {days}: expected a whole number of days, at least 1")
    lifts = dict(DEFAULT_LIFTS if lifts is None else lifts)
    population, window_start = read_population(db, run_id, schema_prefix=schema_prefix)
    responded = respond(population.lazy(), lifts, days).collect()
    drawn = draw(responded, np.random.default_rng(np.random.SeedSequence([seed, days])))
    first_seq = _next_doc_numbers(db, window_start, days, marts_schema(schema_prefix))
    lines = sales_lines(drawn, window_start, days, first_seq)

    out_dir = Path(out_dir)
    out_dir.mkdir(parents=True, exist_ok=True)
    sales_path, truth_path = out_dir / SALES_FILE, out_dir / TRUTH_FILE
    write_export(sales_path, lines, SALES_DIALECT)
    facts = truth_document(
        responded, run_id=run_id, window_start=window_start, days=days, seed=seed, lifts=lifts
    )
    truth_path.write_text(json.dumps(facts, indent=2, sort_keys=False) + "\n", encoding="utf-8")
    return CampaignPeriod(
        run_id,
        window_start,
        days,
        seed,
        lifts,
        sales_path,
        truth_path,
        lines.height,
        population.height,
        facts,
    )


def truth_document(
    responded: pl.DataFrame,
    *,
    run_id: str,
    window_start: dt.date,
    days: int,
    seed: int,
    lifts: dict[str, float],
) -> dict:
    """What ``campaign_truth.json`` holds: the model's parameters and the true uplift, overall
    and per scenario of the run (rounded to 10 decimals so that the bytes are stable)."""

    def rows(frame: pl.DataFrame) -> list[dict]:
        return [
            {k: round(v, 10) if isinstance(v, float) else v for k, v in r.items()} for r in frame.to_dicts()
        ]

    return {
        "run_id": run_id,
        "window_start": window_start.isoformat(),
        "window_days": days,
        "seed": seed,
        "lifts": lifts,
        "baseline_prior_orders": BASELINE_PRIOR_ORDERS,
        "history_days": HISTORY_DAYS,
        "estimand": "intention to treat: mean move of the treatment group (contacted or not)",
        "overall": rows(truth(responded, by=()))[0],
        "scenarios": {r.pop("scenario"): r for r in rows(truth(responded))},
    }
