"""Each scenario's rules on a few hand-built customers, with the expected scenario and products
written in the test: lapsed, due, tier step, budget stretch, max orders, the family cap and the
seen filter (docs/scoring.md). Self-validation is off: these are the learnt lists' own rules."""

from __future__ import annotations

from datetime import date, timedelta

import polars as pl

from reco.scoring import score
from reco.scoring.config import config_from_dict
from reco.scoring.inputs import READ_COLUMNS, ScoringInputs

AS_OF = date(2026, 4, 1)

#: (product_key, family, premium tier, price); all active
CATALOGUE = [
    ("R1", "RED", 1, 10.0),
    ("R2", "RED", 1, 10.0),
    ("R3", "RED", 2, 12.0),
    ("R4", "RED", 3, 14.0),
    ("R5", "RED", 2, 16.0),
    ("R6", "RED", 1, 10.0),
    ("W1", "WHITE", 1, 10.0),
]
#: popularity: background customers who bought these in one order each (R1 most popular)
BACKGROUND = {"R1": 9, "R2": 8, "R3": 7, "R4": 6, "R5": 5, "R6": 4, "W1": 3}


def _frame(table: str, rows: list[dict]) -> pl.LazyFrame:
    schema = {
        c: {"text": pl.String, "boolean": pl.Boolean, "date": pl.Date, "integer": pl.Int32}.get(t, pl.Float64)
        for c, t in READ_COLUMNS[table].items()
    }
    return pl.LazyFrame(rows, schema=schema)


def inputs(purchases: list[tuple[str, str, str]], catalogue=CATALOGUE) -> ScoringInputs:
    """``purchases``: (customer, product, ISO date); one order per customer and day."""
    price = {key: p for key, _, _, p in catalogue}
    rows = [(c, k, date.fromisoformat(d)) for c, k, d in purchases]
    n = 0
    for key, buyers in BACKGROUND.items():
        for i in range(buyers):
            rows.append((f"bg{n:02d}", key, AS_OF - timedelta(days=30 + i)))
            n += 1
    lines = [
        {
            "customer_code": c,
            "product_key": k,
            "order_date": d,
            "doc_ref": f"{c}-{d}",
            "quantity": 1.0,
            "unit_price": price[k],
            "amount_ht": price[k],
        }
        for c, k, d in rows
    ]
    customers = sorted({r["customer_code"] for r in lines})
    return ScoringInputs(
        customers=_frame(
            "customer",
            [
                {
                    "customer_code": c,
                    "email": f"{c}@x",
                    "is_contactable": True,
                    "is_bounced": False,
                    "is_optout": False,
                }
                for c in customers
            ],
        ),
        products=_frame(
            "product",
            [
                {
                    "product_key": k,
                    "product_label": k,
                    "family_crm": f,
                    "premium_tier": t,
                    "unit_price": p,
                    "is_active": True,
                }
                for k, f, t, p in catalogue
            ],
        ),
        order_lines=_frame("order_line", lines),
        profiles=_frame("client_master_profile", []),
        contacts=_frame("contact_history", []),
        as_of=AS_OF,
    )


def lists(purchases, raw: dict, catalogue=CATALOGUE) -> dict[str, tuple[str, list[str]]]:
    """customer -> (scenario, products by rank), scored with ``raw`` configuration."""
    config = config_from_dict({"validation": {"enabled": False}} | raw)
    items = score(inputs(purchases, catalogue), config, apply_contact_rules=False).items
    return {
        c: (g["scenario"][0], g.sort("rank")["product_key"].to_list())
        for (c,), g in items.group_by("customer_code")
    }


def _every(days: int, start: str, n: int) -> list[str]:
    first = date.fromisoformat(start)
    return [(first + timedelta(days=days * i)).isoformat() for i in range(n)]


def test_lapsed_follows_the_customers_own_cycle():
    # both last bought 27 days before as_of; the weekly shopper is 3 cycles (21 days) late,
    # the monthly one is not
    weekly = [("weekly", "R1", d) for d in _every(7, "2026-01-01", 10)]  # last 2026-03-05
    monthly = [
        ("monthly", "R1", d) for d in ("2025-10-01", "2025-11-01", "2025-12-01", "2026-01-01", "2026-03-05")
    ]
    got = lists(weekly + monthly, {"priority": ["WINBACK"]})
    assert got["weekly"][0] == "WINBACK"
    assert got["monthly"][0] == "NURTURE"  # no scenario fits: the fallback


def test_due_ranks_the_favourite_whose_interval_has_passed_first():
    # R2 every 30 days, last 31 days ago (due); R3 every 30 days, last 10 days ago (not yet);
    # R4 once (no interval). Only the due feature counts.
    weights = {f"w_{f}": 0.0 for f in ("frequency", "orders", "recency", "staple", "popularity", "activity")}
    rebuy = {"calibrate": False, "min_hit_probability": 0.0, "w_baseline": 0.0, "w_due": 5.0, **weights}
    buys = [("c", "R2", d) for d in ("2026-01-01", "2026-01-31", "2026-03-01")]
    buys += [("c", "R3", d) for d in ("2026-02-20", "2026-03-22")]
    buys += [("c", "R4", "2026-02-01")]
    assert lists(buys, {"priority": ["REBUY"], "rebuy": rebuy})["c"] == ("REBUY", ["R2", "R3", "R4"])


def test_upsell_steps_up_at_least_min_tier_step_within_the_budget():
    # usual tier 1, average price 10: budget 10 × 1.5 = 15. R3 (tier 2, 12) and R4 (tier 3, 14)
    # qualify; R5 (tier 2, 16) is over budget; tier-1 products are no step up
    buys = [("c", "R1", "2025-11-01"), ("c", "R2", "2025-12-01")]
    got = lists(buys, {"priority": ["UPSELL"]})
    assert got["c"][0] == "UPSELL" and set(got["c"][1][:2]) == {"R3", "R4"}
    assert "R5" not in got["c"][1][:2]
    # two tiers up: only R4
    got = lists(buys, {"priority": ["UPSELL"], "upsell": {"min_tier_step": 2}})
    assert got["c"][1][0] == "R4" and "R3" not in got["c"][1][:1]


def test_budget_stretch_lets_a_dearer_step_up_in():
    # R3, R4 and R5 are all RED: the family cap is lifted so that only the budget decides
    buys = [("c", "R1", "2025-11-01"), ("c", "R2", "2025-12-01")]
    rules = {"priority": ["UPSELL"], "rules": {"max_per_family": 0}}
    tight = lists(buys, rules)["c"][1]
    loose = lists(buys, rules | {"upsell": {"budget_stretch": 0.7}})["c"][1]
    assert "R5" not in tight  # 16 > 10 × 1.5
    assert loose == ["R3", "R4", "R5"]  # 16 <= 10 × 1.7; ranked by score


def test_nurture_fits_customers_with_at_most_max_orders():
    buys = [("one", "W1", "2026-01-10"), ("two", "W1", "2026-01-10"), ("two", "R1", "2026-02-10")]
    config = {"priority": ["NURTURE"]}
    result = score(
        inputs(buys), config_from_dict({"validation": {"enabled": False}} | config), apply_contact_rules=False
    )
    caught = set(result.audits.filter(reason_code="no_scenario_fits")["customer_code"])
    assert "two" in caught and "one" not in caught
    wider = config_from_dict(
        {"validation": {"enabled": False}, "priority": ["NURTURE"], "nurture": {"max_orders": 2}}
    )
    caught = set(
        score(inputs(buys), wider, apply_contact_rules=False).audits.filter(reason_code="no_scenario_fits")[
            "customer_code"
        ]
    )
    assert "two" not in caught


def test_the_family_cap_keeps_at_most_max_per_family_of_one_family():
    # a new customer (one order of W1 long ago): NURTURE offers the popular products, all RED
    # but one WHITE
    buys = [("new", "W1", "2025-06-01")]
    capped = lists(buys, {"priority": ["NURTURE"]})["new"][1]
    assert capped[:2] == ["R1", "R2"] and capped[2] == "W1"
    uncapped = lists(buys, {"priority": ["NURTURE"], "rules": {"max_per_family": 0}})["new"][1]
    assert uncapped == ["R1", "R2", "R3"]


def test_the_seen_filter_keeps_recent_purchases_out_except_for_rebuy():
    # bought the most popular product R1 10 days ago: NURTURE does not offer it again ...
    buys = [("c", "R1", "2026-03-22")]
    assert "R1" not in lists(buys, {"priority": ["NURTURE"]})["c"][1]
    # ... unless the filter is shorter than 10 days
    assert lists(buys, {"priority": ["NURTURE"], "rules": {"recent_purchase_days": 5}})["c"][1][0] == "R1"
    # REBUY offers it: it is the customer's own
    rebuy = {"min_hit_probability": 0.0, "calibrate": False}
    assert lists(buys, {"priority": ["REBUY"], "rebuy": rebuy})["c"] == ("REBUY", ["R1", "R2", "R3"])


def test_novelty_and_uptrade_tell_explorers_and_up_traders_from_staple_buyers():
    """The propensities a CROSS_SELL or UPSELL list's raw score may be weighed by
    (reco.scoring.features.propensities): an explorer, each of whose orders is a product new to
    them, has a high novelty; a staple buyer re-buying one product a low one; an explorer who
    stopped long ago less than one exploring lately; an up-trader's products above their usual
    tier give an uptrade, the others none. For identical lists, the weighed raw score follows
    the propensity; unweighed, it does not."""
    from reco.scoring.arbitration import list_raw
    from reco.scoring.config import ScoringConfig
    from reco.scoring.features import build_history, prepare_products

    def orders(code: str, keys: list[str], start: str) -> list[tuple[str, str, str]]:
        return [(code, k, d) for k, d in zip(keys, _every(30, start, len(keys)), strict=True)]

    purchases = [
        *orders("explorer", ["R1", "R2", "R6", "W1"], "2026-01-01"),
        *orders("staple", ["R1", "R1", "R1", "R1"], "2026-01-01"),
        *orders("uptrader", ["R1", "R1", "R3", "R4"], "2026-01-01"),
        *orders("stopped", ["R1", "R2", "R6", "W1"], "2024-01-01"),
    ]
    data = inputs(purchases)
    config = ScoringConfig()
    lines = data.order_lines
    products = prepare_products(data.products, lines, AS_OF, config)
    history = build_history(lines, products, lines.select("customer_code").unique(), AS_OF, config)
    rows = history.customers.select("customer_code", "cid", "novelty", "uptrade").rows_by_key("customer_code")
    cid = {c: rows[c][0][0] for c in rows}
    novelty = {c: rows[c][0][1] for c in rows}
    uptrade = {c: rows[c][0][2] for c in rows}
    assert novelty["explorer"] > novelty["uptrader"] > novelty["staple"] > 0
    assert novelty["explorer"] > 2 * novelty["stopped"] > 0
    assert uptrade["uptrader"] > 0 and uptrade["explorer"] == uptrade["staple"] == 0
    same = pl.DataFrame(
        {"cid": [cid["explorer"], cid["staple"]], "score": [1.0, 1.0], "fill": [0, 0]},
        schema_overrides={"cid": pl.UInt32},
    )
    customers = history.customers.lazy()
    weighed = dict(list_raw(same, customers, "novelty").collect().iter_rows())
    assert weighed[cid["explorer"]] > 3 * weighed[cid["staple"]] > 0
    plain = dict(list_raw(same, customers).collect().iter_rows())
    assert plain[cid["explorer"]] == plain[cid["staple"]] == 1.0
