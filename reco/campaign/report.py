"""``reco report``: a run's uplift, treated against control, overall and per scenario.

Reads ``reco.run_outcome`` (written by ``reco outcomes``) and compares the groups with
:func:`reco.campaign.uplift.compare`. The same figures, formatted once here, feed the terminal
tables, the JSON and the self-contained HTML page (:mod:`reco.campaign.report_html`). A
partial measurement (the window was still open) is labelled in each of them.
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass

import polars as pl

from reco.campaign import require_run
from reco.campaign.uplift import METRICS, MIN_GROUP_SIZE, compare
from reco.db.engine import adbc_connect
from reco.db.target import Database
from reco.errors import RecoError
from reco.scoring.inputs import fetch

CONFIDENCE = 0.95
#: what each metric is called in the report
LABELS = {
    "conversion": "conversion rate",
    "revenue_per_customer": "revenue per customer",
    "recommended_rate": "bought recommended",
    "incremental_revenue": "incremental revenue",
}
#: metrics that are proportions (shown as percentages)
RATES = ("conversion", "recommended_rate")
OVERALL = "all scenarios"
PARTIAL_LABEL = "PARTIAL: measured before the outcome window closed"


@dataclass
class UpliftReport:
    run_id: str
    campaign_id: str | None
    window_start: dt.date
    window_days: int
    is_partial: bool
    measured_at: dt.datetime
    #: compare() over all customers, with a ``scenario`` column = OVERALL, then per scenario
    table: pl.DataFrame

    @property
    def scenarios(self) -> list[str]:
        return [s for s in self.table["scenario"].unique(maintain_order=True) if s != OVERALL]

    def rows(self, scenario: str) -> list[dict]:
        return self.table.filter(pl.col("scenario") == scenario).to_dicts()

    def under_powered(self) -> list[str]:
        """One sentence per under-powered comparison."""
        out = []
        for r in self.table.filter("under_powered").iter_rows(named=True):
            mde = (
                f"minimum detectable effect {value(r['metric'], r['mde'])}"
                if r["mde"] is not None
                else "no MDE"
            )
            out.append(
                f"{r['scenario']}, {LABELS[r['metric']]}: under-powered ({mde} at"
                f" {r['n_treatment']:,} treated / {r['n_control']:,} control; observed"
                f" {signed(r['metric'], r['abs_uplift'])})"
            )
        return out

    def to_dict(self) -> dict:
        return {
            "run_id": self.run_id,
            "campaign_id": self.campaign_id,
            "window_start": self.window_start.isoformat(),
            "window_days": self.window_days,
            "is_partial": self.is_partial,
            "status": PARTIAL_LABEL if self.is_partial else "final",
            "measured_at": self.measured_at.isoformat(),
            "confidence": CONFIDENCE,
            "min_group_size": MIN_GROUP_SIZE,
            "comparisons": self.table.to_dicts(),
        }


def value(metric: str, v: float | None) -> str:
    """A figure as the report prints it: rates in percent, money with two decimals."""
    if v is None:
        return "n/a"
    if metric in RATES:
        return f"{v * 100:.1f}%"
    return f"{v:,.2f}"


def signed(metric: str, v: float | None) -> str:
    if v is None:
        return "n/a"
    if metric in RATES:
        return f"{v * 100:+.1f} pts"
    return f"{v:+,.2f}"


def interval(metric: str, low: float | None, high: float | None, *, relative: bool = False) -> str:
    if low is None or high is None:
        return "n/a"
    if relative:
        return f"[{low * 100:+.0f}%, {high * 100:+.0f}%]"
    if metric in RATES:
        return f"[{low * 100:+.1f}, {high * 100:+.1f}] pts"
    return f"[{low:+,.2f}, {high:+,.2f}]"


def relative(v: float | None) -> str:
    return "n/a" if v is None else f"{v * 100:+.1f}%"


def cells(row: dict) -> list[str]:
    """One comparison as the report shows it, in the columns of its tables (terminal and HTML):
    metric, treated, control, uplift, its interval, relative uplift, its interval, MDE."""
    m = row["metric"]
    return [
        LABELS[m],
        value(m, row["treatment"]),
        value(m, row["control"]),
        signed(m, row["abs_uplift"]),
        interval(m, row["abs_low"], row["abs_high"]),
        relative(row["rel_uplift"]),
        interval(m, row["rel_low"], row["rel_high"], relative=True),
        value(m, row["mde"]),
    ]


def read_outcomes(db: Database, run_id: str) -> pl.DataFrame:
    """The run's ``reco.run_outcome`` rows; refuses a run that has none."""
    with adbc_connect(db) as conn:
        require_run(conn, run_id)
        rows = fetch(
            conn,
            """select customer_code::text as customer_code, campaign_id::text as campaign_id,
                   grp::text as grp, scenario::text as scenario, segment::text as segment,
                   contacted, window_start, window_days::int as window_days, is_partial,
                   n_orders::int as n_orders, revenue::float8 as revenue, bought_recommended,
                   bought_recommended_family, days_to_first_purchase::int as days_to_first_purchase,
                   measured_at
            from reco.run_outcome where run_id = $1 order by customer_code""",
            (run_id,),
        )
    if rows.height == 0:
        raise RecoError(f"run {run_id!r} has no outcomes: run reco outcomes --run-id {run_id} first")
    return rows


def build_report(db: Database, run_id: str) -> UpliftReport:
    """The run's uplift, overall and per scenario, at :data:`CONFIDENCE`."""
    outcomes = read_outcomes(db, run_id)
    first = outcomes.row(0, named=True)
    overall = compare(outcomes, confidence=CONFIDENCE).select(pl.lit(OVERALL).alias("scenario"), pl.all())
    per_scenario = compare(outcomes, by=["scenario"], confidence=CONFIDENCE)
    return UpliftReport(
        run_id,
        first["campaign_id"],
        first["window_start"],
        first["window_days"],
        bool(outcomes["is_partial"].any()),
        outcomes["measured_at"].max(),
        pl.concat([overall, per_scenario]),
    )


__all__ = ["METRICS", "UpliftReport", "build_report", "read_outcomes"]
