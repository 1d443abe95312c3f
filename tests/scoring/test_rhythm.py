"""Windows and thresholds follow the purchase rhythm, bounded by the history
(reco.scoring.rhythm): a 4-month grocery history and a 2-year wine history."""

from datetime import date
from pathlib import Path

import polars as pl
import pytest

from reco.errors import RecoError
from reco.scoring import rhythm
from reco.scoring.config import ScoringConfig, config_from_dict
from tests.support.synthetic_marts import Shape, generate_marts

GROCERY = Path(__file__).parents[1] / "ingest" / "corpus" / "grocery" / "sales.csv"


def _grocery(until: date) -> pl.LazyFrame:
    """The grocery corpus's till lines as purchase days (one basket per card and day)."""
    return (
        pl.scan_csv(GROCERY, separator=";", schema_overrides={"Card": pl.String})
        .select(customer_code="Card", order_date=pl.col("Date").str.to_date("%d/%m/%Y"))
        .filter(pl.col("order_date") < until)
    )


def test_a_four_month_grocery_history_gets_short_windows_and_thresholds():
    # the shape: a cutoff 3 months in, a 28-day campaign
    as_of = date(2026, 9, 3)
    config = config_from_dict({"rhythm": {"horizon_days": 28}})
    r, per = rhythm.derive(_grocery(as_of), as_of, config)
    assert r.history_days == 94
    assert 7 <= r.retailer_cycle_days <= 21  # a grocery cycle: one to three weeks
    assert r.window_days == 28  # the campaign's horizon, with 66 days of history before it
    assert r.lapsed_cap_days == 47  # half the history: someone can be lapsed
    assert 14 <= r.lapsed_days <= 47
    assert per["lapsed_after"].is_between(14, 47).all()
    # frequent shoppers lapse sooner than the retailer's default
    assert per.filter(pl.col("cycle_days") < 7)["lapsed_after"].max() < r.lapsed_days


def test_a_90_day_horizon_on_a_short_history_never_calibrates_on_a_few_days():
    as_of = date(2026, 9, 3)
    r, _ = rhythm.derive(_grocery(as_of), as_of, ScoringConfig())
    assert r.window_days == 47  # not 90 (2 days before it), but half the history
    r, _ = rhythm.derive(_grocery(date(2026, 6, 10)), date(2026, 6, 10), ScoringConfig())
    assert r.history_days == 9 and r.window_days is None  # too short to calibrate at all


def test_a_two_year_wine_history_gets_long_windows_and_thresholds():
    marts = generate_marts(Shape(n_customers=800, n_products=100, years=2.0), as_of=date(2026, 1, 1))
    lines = marts["order_line"].lazy().filter("is_purchase")
    r, per = rhythm.derive(lines, date(2026, 1, 1), ScoringConfig())
    assert r.history_days >= 700
    assert 60 <= r.retailer_cycle_days <= 240  # wine: months between orders
    assert r.window_days == 90  # the horizon fits: plenty of history
    assert r.lapsed_cap_days == 364  # half of 729 days of history, below lapsed_max_days
    assert 180 <= r.lapsed_days <= 364
    assert per["lapsed_after"].is_between(14, 365).all()


def test_a_customer_with_enough_gaps_lapses_on_their_own_cycle():
    lines = pl.LazyFrame(
        {
            "customer_code": ["weekly"] * 5 + ["twice"] * 2 + ["old"],
            "order_date": [date(2026, 1, d) for d in (1, 8, 15, 22, 29)]
            + [date(2026, 1, 1), date(2026, 3, 1)]
            + [date(2025, 6, 1)],
        }
    )
    r, per = rhythm.derive(lines, date(2026, 4, 1), ScoringConfig())
    lapsed = dict(zip(per["customer_code"], per["lapsed_after"], strict=True))
    assert lapsed["weekly"] == 21  # 3 × 7 days
    # too few gaps: the retailer's cycle (median of 7 and 59 days) × 3
    assert r.retailer_cycle_days == 33.0 and lapsed["twice"] == lapsed["old"] == r.lapsed_days == 99


def test_replaced_settings_say_what_to_write_instead():
    with pytest.raises(RecoError, match=r"\[winback\] lapsed_days is no longer a setting; use \[rhythm\]"):
        config_from_dict({"winback": {"lapsed_days": 90}})
    with pytest.raises(RecoError, match=r"calibration_days is no longer a setting; use \[rhythm\] horizon"):
        config_from_dict({"rebuy": {"calibration_days": 30}})
    with pytest.raises(RecoError, match="lapsed_min_days"):
        config_from_dict({"rhythm": {"lapsed_min_days": 400}})
