"""REBUY's model: weights learnt from the history before as_of, a fallback when there is too
little of it, and the probability floor that decides who REBUY takes."""

from __future__ import annotations

import json
import math
from dataclasses import replace
from datetime import date, timedelta

import polars as pl

from reco.scoring.config import REBUY_FEATURES, config_from_dict
from reco.scoring.engine import score
from reco.scoring.inputs import READ_COLUMNS
from tests.support.synthetic_marts import Shape, as_inputs, generate_marts

AS_OF = date(2026, 1, 1)


def _frames(n_customers: int, *, after_as_of: bool = False) -> tuple[dict[str, pl.DataFrame], str]:
    """Every customer buys a staple every 30 days (also in the 90 days before as_of) and two
    one-off products once, long ago."""
    frames = generate_marts(Shape(n_customers=n_customers, n_products=12), seed=3, as_of=AS_OF)
    products = frames["product"].with_columns(is_active=pl.lit(True))
    keys = products["product_key"].sort().to_list()
    staple, one_offs = keys[0], keys[1:]
    codes = frames["customer"]["customer_code"].sort().to_list()
    rows = []
    for i, code in enumerate(codes):
        for day in range(400, 0, -30):
            rows.append((code, staple, AS_OF - timedelta(days=day), f"S{i}-{day}"))
        for j in (0, 1):
            one_off = one_offs[(i + j) % len(one_offs)]
            rows.append((code, one_off, AS_OF - timedelta(days=300 + j), f"O{i}-{j}"))
        if after_as_of:  # what the scorer must never see: a burst of one-off purchases
            for day in range(0, 60, 5):
                rows.append((code, one_offs[i % len(one_offs)], AS_OF + timedelta(days=day), f"L{i}-{day}"))
    lines = pl.DataFrame(
        rows, schema=["customer_code", "product_key", "order_date", "doc_ref"], orient="row"
    ).with_columns(quantity=1.0, unit_price=10.0, amount_ht=10.0, is_purchase=True)
    return frames | {"product": products, "order_line": lines}, staple


#: the model itself, as if self-validation had kept it (tests/scoring/test_validation.py)
REBUY_ONLY = {"priority": ["REBUY"], "rules": {"top_n": 3}, "validation": {"enabled": False}}


def test_weights_are_learnt_from_the_history_before_as_of_and_rank_the_staple_first():
    frames, staple = _frames(150)
    result = score(as_inputs(frames, AS_OF), config_from_dict(REBUY_ONLY), apply_contact_rules=False)
    model = result.counts["rebuy_model"]
    assert model["source"] == "calibrated"
    assert model["calibrated_as_of"] == (AS_OF - timedelta(days=90)).isoformat()
    assert model["repurchases"] == 150  # the staple of every customer, bought again
    firsts = result.items.filter(rank=1)
    assert firsts.height == 150 and (firsts["product_key"] == staple).all()
    assert (firsts["scenario"] == "REBUY").all()
    reasons = json.loads(firsts["reasons_json"][0])
    assert set(reasons["components"]) == {"baseline", *REBUY_FEATURES}
    # the score is the log-odds of the chance the reasons state
    logit = firsts["score"][0]
    assert reasons["probability"] == round(1 / (1 + math.exp(-logit)), 4) > 0.5


def test_purchases_on_or_after_as_of_change_nothing():
    config = config_from_dict(REBUY_ONLY)
    frames, _ = _frames(150)
    leaky, _ = _frames(150, after_as_of=True)
    clean = score(as_inputs(frames, AS_OF), config, apply_contact_rules=False)
    # the order lines as given, later ones included: score() itself must keep them out
    unfiltered = leaky["order_line"].lazy().select(list(READ_COLUMNS["order_line"]))
    assert unfiltered.filter(pl.col("order_date") >= AS_OF).collect().height > 0
    inputs = replace(as_inputs(leaky, AS_OF), order_lines=unfiltered)
    with_future = score(inputs, config, apply_contact_rules=False)
    assert with_future.counts["rebuy_model"] == clean.counts["rebuy_model"]
    assert with_future.items.equals(clean.items)


def test_too_little_history_falls_back_to_the_configured_weights_and_says_so():
    frames, _ = _frames(4)
    config = config_from_dict(REBUY_ONLY | {"rebuy": {"w_baseline": -3.0}})
    result = score(as_inputs(frames, AS_OF), config, apply_contact_rules=False)
    model = result.counts["rebuy_model"]
    assert model["source"] == "configured"
    assert "too little history" in model["reason"]
    assert model["weights"]["baseline"] == -3.0
    flagged = result.audits.filter(reason_code="rebuy_model_not_calibrated")
    assert flagged.height == 1 and flagged["severity"][0] == "info"
    off = score(
        as_inputs(frames, AS_OF),
        config_from_dict(REBUY_ONLY | {"rebuy": {"calibrate": False}}),
        apply_contact_rules=False,
    )
    assert off.counts["rebuy_model"]["reason"] == "calibrate = false"


def test_the_probability_floor_decides_who_rebuy_takes():
    frames, _ = _frames(150)
    inputs = as_inputs(frames, AS_OF)

    def scenarios(floor: float) -> set[str]:
        # the floor belongs to the priority list; by expected value, EV decides instead
        rebuy = {"rebuy": {"min_hit_probability": floor}, "arbitration": {"method": "priority"}}
        config = config_from_dict(REBUY_ONLY | rebuy)
        return set(score(inputs, config, apply_contact_rules=False).items["scenario"])

    assert scenarios(0.0) == {"REBUY"}
    assert scenarios(0.05) == {"REBUY"}  # the staple is a near-certain re-purchase
    assert scenarios(1.0) == {"NURTURE"}  # nobody is certain: the fallback takes everyone
