"""Reasons in words (reco/scoring/why.py): each scenario's ``scenario_why`` and each product's
``why`` on a few hand-built customers, with the numbers written in the test; never a product
code, None or NaN, with or without wine attributes; and ``reco runs show``'s sample and its
"nobody" lines on a run in a real database."""

from __future__ import annotations

import json
import re
from dataclasses import replace
from datetime import date

import polars as pl
import pytest

from reco.scoring import run_scoring, score, show_run
from reco.scoring.config import config_from_dict
from reco.scoring.why import nobody
from tests.scoring.test_scenario_rules import CATALOGUE, inputs
from tests.support.synthetic_marts import Shape, as_inputs, generate_marts, write_marts

#: names of the rule tests' products (their codes are R1.., W1): RED is "Bordeaux" here
NAMES = {
    "R1": "Château Lafleur 2019",
    "R2": "Domaine du Roc 2020",
    "R3": "Clos Marie 2018",
    "R4": "Château Haut 2016",
    "R5": "Clos des Vignes 2015",
    "R6": "Domaine Blanc 2021",
    "W1": "Chablis 2023",
}


def _named(purchases, names=NAMES, family="Bordeaux", catalogue=CATALOGUE):
    base = inputs(purchases, catalogue)
    label = pl.col("product_key").replace_strict(names, default=None, return_dtype=pl.String)
    fam = pl.when(pl.col("family_crm") == "RED").then(pl.lit(family)).otherwise(pl.lit("Burgundy"))
    return replace(base, products=base.products.with_columns(product_label=label, family_crm=fam))


def _words(purchases, raw: dict, **kw) -> dict[str, tuple[str, str, list[tuple[str, str]]]]:
    """customer -> (scenario, scenario_why, [(product, why), ...] by rank)."""
    config = config_from_dict({"validation": {"enabled": False}} | raw)
    items = score(_named(purchases, **kw), config, apply_contact_rules=False).items
    out = {}
    for (code,), g in items.sort("rank").group_by("customer_code", maintain_order=True):
        reasons = [json.loads(r) for r in g["reasons_json"]]
        out[code] = (
            g["scenario"][0],
            reasons[0]["scenario_why"],
            [(k, r["why"]) for k, r in zip(g["product_key"], reasons, strict=True)],
        )
    return out


REBUY = {"priority": ["REBUY"], "rebuy": {"calibrate": False, "min_hit_probability": 0.0}}


def test_rebuy_says_the_customers_rhythm_and_the_products():
    # R2 every 35 days, last on 2026-02-18, 42 days before as_of (2026-04-01): every 5 weeks,
    # 6 weeks ago; four orders, so the customer has their own cycle (3 gaps of 35 days)
    buys = [("c", "R2", d) for d in ("2025-11-05", "2025-12-10", "2026-01-14", "2026-02-18")]
    scenario, why, products = _words(buys, REBUY)["c"]
    assert scenario == "REBUY"
    assert why == "you order every 5 weeks; last order 6 weeks ago"
    assert products[0] == ("R2", "you buy it every 5 weeks; last time 6 weeks ago")
    # the other two are fills from the popular Bordeaux (R1: 9 buyers, the most popular)
    assert products[1] == ("R1", "popular with customers who buy Bordeaux, like you")


def test_rebuy_without_a_cycle_counts_orders_and_a_product_bought_once():
    buys = [("c", "R2", "2026-02-18"), ("c", "R3", "2026-03-04")]  # 42 and 28 days ago
    _, why, products = _words(buys, REBUY)["c"]
    assert why == "2 orders, the last 4 weeks ago"
    assert ("R2", "you bought it once, 6 weeks ago") in products


def test_winback_says_how_long_ago_the_last_order_was():
    # last order 2025-01-20: 436 days before as_of, 14.3 months: "14 months ago"
    buys = [("c", "R1", "2024-12-20"), ("c", "R1", "2025-01-20")]
    scenario, why, products = _words(buys, {"priority": ["WINBACK"]})["c"]
    assert scenario == "WINBACK" and why == "last order 14 months ago"
    assert products[0] == ("R1", "you bought it 2 times, the last 14 months ago")


def test_cross_sell_names_the_product_it_goes_with_and_counts_its_co_buyers():
    # four customers bought Chablis 2023 (W1) and Clos des Vignes 2015 (R5) together;
    # "c" bought W1, 86 days ago
    pairs = [(f"co{i}", k, "2026-01-10") for i in range(4) for k in ("W1", "R5")]
    buys = [*pairs, ("c", "W1", "2026-01-05")]
    scenario, why, products = _words(buys, {"priority": ["CROSS_SELL"]})["c"]
    assert scenario == "CROSS_SELL"
    assert why == "customers who bought what you bought also chose these; 1 order, 2 months ago"
    assert products[0] == ("R5", "often bought with Chablis 2023 (4 customers)")


def test_upsell_says_how_many_tiers_up_from_the_usual_family():
    buys = [("c", "R1", "2025-11-01"), ("c", "R2", "2025-12-01")]  # tier 1, 10.00 each
    scenario, why, products = _words(buys, {"priority": ["UPSELL"]})["c"]
    assert scenario == "UPSELL"
    assert why == "you usually buy tier 1 at about 10.00 a unit; a step up within your budget"
    assert dict(products)["R3"] == "one tier up from your usual Bordeaux"
    assert dict(products)["R4"] == "two tiers up from your usual Bordeaux"


def test_nurture_says_new_customer_and_how_popular_the_picks_are():
    buys = [("new", "W1", "2026-02-18")]  # a Burgundy customer, one order 42 days ago
    scenario, why, products = _words(buys, {"priority": ["NURTURE"]})["new"]
    assert scenario == "NURTURE" and why == "new customer: 1 order so far, 6 weeks ago"
    # R1: 9 background buyers 30 to 38 days ago, within the 90-day popularity window
    assert products[0] == ("R1", "bought by 9 customers in the last 90 days")


def test_without_names_or_attributes_the_words_are_generic_never_none():
    # no family, tier or name anywhere: the product it is bought with is "one of your purchases"
    bare = [(k, None, None, p) for k, _, _, p in CATALOGUE]
    pairs = [(f"co{i}", k, "2026-01-10") for i in range(4) for k in ("W1", "R5")]
    got = _words([*pairs, ("c", "W1", "2026-01-05")], {"priority": ["CROSS_SELL"]}, names={}, catalogue=bare)
    assert got["c"][2][0] == ("R5", "often bought with one of your purchases (4 customers)")


def _assert_plain(items: pl.DataFrame, keys: list[str]) -> None:
    code = re.compile(r"\b(" + "|".join(map(re.escape, keys)) + r")\b")
    for raw in items["reasons_json"]:
        reasons = json.loads(raw)
        for text in (reasons["why"], reasons["scenario_why"]):
            assert text and not code.search(text), text
            assert not re.search(r"\b(None|null|nan|NaN|inf)\b", text), text


@pytest.mark.parametrize("attributes", [True, False], ids=["wine", "no_attributes"])
def test_a_why_never_holds_a_product_code_none_or_nan(attributes):
    as_of = date(2026, 1, 1)
    marts = generate_marts(
        Shape(n_customers=400, n_products=40, with_attributes=attributes), seed=11, as_of=as_of
    )
    # a few products without a name: the words must not fall back to their codes
    marts["product"] = marts["product"].with_columns(
        product_label=pl.when(pl.int_range(pl.len()) % 7 == 0).then(None).otherwise(pl.col("product_label"))
    )
    result = score(as_inputs(marts, as_of), config_from_dict({"validation": {"enabled": False}}))
    assert result.items.height > 300 and result.items["scenario"].n_unique() >= 3
    _assert_plain(result.items, marts["product"]["product_key"].to_list())


def test_nobody_says_why_from_what_the_run_recorded():
    counts = {
        "eligible": 10,
        "by_scenario": {"REBUY": 0, "WINBACK": 0, "NURTURE": 4, "UPSELL": 0, "CROSS_SELL": 6},
        "rhythm": {"history_days": 92, "lapsed_cap_days": 46},
        "validation": {"assignment": {"choice": "assignment"}},
        "assignment": {
            "WINBACK": {"fits": 0, "offered": 0, "with_candidates": 0},
            "UPSELL": {"fits": 8, "offered": 8, "with_candidates": 0},
            "CROSS_SELL": {"fits": 10, "offered": 10, "with_candidates": 6},
        },
    }
    got = nobody(counts, ["WINBACK", "UPSELL", "CROSS_SELL"])
    assert got == {
        "REBUY": "turned off: not in the configuration's priority",
        "WINBACK": "nobody lapsed: no eligible customer's last order is older than their lapsed"
        " threshold (at most 46 days, with a history of 92 days)",
        "UPSELL": "no product is a higher tier than what its 8 customers usually buy, within their budget",
    }
    # NURTURE outside the priority catches the customers no scenario fits
    alone = counts | {"by_scenario": counts["by_scenario"] | {"NURTURE": 0}}
    assert nobody(alone, ["WINBACK", "UPSELL", "CROSS_SELL"])["NURTURE"] == (
        "it only takes customers no scenario of the priority fits, and there were none"
    )
    guarded = counts | {
        "validation": {"assignment": {"choice": "repeat", "why": "too few customers to tell"}}
    }
    assert nobody(guarded, ["REBUY", "UPSELL"])["UPSELL"] == (
        "the assignment guard gave everyone REPEAT: too few customers to tell"
    )


def test_runs_show_prints_a_sample_in_words_and_why_a_scenario_got_nobody(use_db, tmp_path):
    # a retailer without taste attributes: no premium tier, so UPSELL fits nobody
    as_of = date(2026, 1, 1)
    write_marts(use_db, generate_marts(Shape(n_customers=200, n_products=30, with_attributes=False), seed=5))
    config = tmp_path / "reco.toml"
    config.write_text("[validation]\nenabled = false\n")
    summary = run_scoring(use_db, "w1", as_of=as_of, config_path=config)
    assert summary.counts["by_scenario"]["UPSELL"] == 0
    run = show_run(use_db, "w1")
    assert run["nobody"]["UPSELL"] == "nobody has a usual premium tier: the products they bought have no tier"
    sample = run["sample"]
    assert {r["scenario"] for r in sample} == {s for s, n in summary.counts["by_scenario"].items() if n}
    assert all(r["product_label"].startswith("Wine ") and r["why"] and r["scenario_why"] for r in sample)
