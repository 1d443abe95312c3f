"""score_lists: the five scenario lists share their global tables and are still exactly the
lists of five independent scorings."""

from __future__ import annotations

from dataclasses import replace
from datetime import date

import polars as pl
import pytest

from reco.backtest.evaluation import score_lists
from reco.scoring import score
from reco.scoring.config import config_from_dict
from reco.scoring.features import shared_cache
from reco.vocab import SCENARIOS
from tests.support.synthetic_marts import Shape, as_inputs, generate_marts

AS_OF = date(2026, 1, 1)


def _alone(inputs, config, scenario: str) -> pl.DataFrame:
    """The scenario's list from a scoring that shares nothing (as score_lists: no REBUY floor,
    the guard's fallback off)."""
    forced = replace(
        config,
        priority=(scenario,),
        rebuy=replace(config.rebuy, min_hit_probability=0.0),
        validation=replace(config.validation, guard=False),
    )
    result = score(inputs, forced, apply_contact_rules=False)
    caught = result.audits.filter(kind="fallback", reason_code="no_scenario_fits")
    return (
        result.items.filter(scenario=scenario)
        .join(caught.select("customer_code"), on="customer_code", how="anti")
        .select("customer_code", "rank", "product_key", "reasons_json")
    )


@pytest.mark.parametrize("seed", [3, 11])
def test_shared_tables_give_the_lists_of_independent_scorings(seed):
    inputs = as_inputs(generate_marts(Shape(n_customers=600, n_products=150), seed=seed, as_of=AS_OF), AS_OF)
    config = config_from_dict({"validation": {"min_customers": 10}})
    lists = score_lists(inputs, config)
    assert set(lists) == set(SCENARIOS)
    assert sum(f.height for f in lists.values()) > 0
    for scenario in SCENARIOS:
        alone = _alone(inputs, config, scenario)
        assert (
            lists[scenario]
            .select("customer_code", "rank", "product_key")
            .equals(alone.select("customer_code", "rank", "product_key"))
        ), scenario
        p = alone["reasons_json"].str.json_path_match("$.expected_value.p").cast(pl.Float64)
        assert lists[scenario]["p"].equals(p.alias("p")), scenario


def test_shared_tables_refuse_another_date_or_configuration():
    config = config_from_dict({})
    shared: dict = {}
    cache = shared_cache(shared, "scoring", AS_OF, config)
    # another priority: the same tables
    assert shared_cache(shared, "scoring", AS_OF, replace(config, priority=("UPSELL",))) is cache
    with pytest.raises(ValueError, match="another date"):
        shared_cache(shared, "scoring", date(2026, 2, 1), config)
    other = replace(config, cross_sell=replace(config.cross_sell, neighbours_per_item=3))
    with pytest.raises(ValueError, match="priority"):
        shared_cache(shared, "scoring", AS_OF, other)
