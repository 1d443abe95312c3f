"""The reliability table of the scenario probabilities (reco.backtest.reliability): predicted P
against the observed rate by decile, on hand-built lists and a hand-built test window."""

from __future__ import annotations

import polars as pl
import pytest

from reco.backtest.reliability import expected_calibration_error, reliability


def test_deciles_set_the_predicted_p_against_the_share_who_bought_from_their_list():
    # 20 customers; customer i has P = i / 20 and one product; the upper half bought it
    codes = [f"c{i:02d}" for i in range(20)]
    lists = {
        "REBUY": pl.DataFrame(
            {
                "customer_code": codes,
                "rank": [1] * 20,
                "product_key": ["p"] * 20,
                "p": [i / 20 for i in range(20)],
            }
        ).with_columns(pl.col("rank").cast(pl.Int32)),
        "NURTURE": pl.DataFrame(  # no calibration (p null): left out
            {"customer_code": ["c00"], "rank": [1], "product_key": ["p"], "p": [None]},
            schema_overrides={"p": pl.Float64},
        ),
    }
    test = pl.LazyFrame({"customer_code": codes[10:] + ["c00"], "product_key": ["p"] * 10 + ["other"]})
    table = reliability(lists, test, bins=10)
    assert table["scenario"].unique().to_list() == ["REBUY"]
    assert table["n"].to_list() == [2] * 10 and table["decile"].to_list() == list(range(1, 11))
    assert table["predicted"].to_list() == pytest.approx([(2 * d + 0.5) / 20 for d in range(10)])
    assert table["observed"].to_list() == [0.0] * 5 + [1.0] * 5
    # |predicted − observed| averaged: (0.025 + 0.125 + … + 0.425) / 10 + (0.475 … 0.075) / 10
    assert expected_calibration_error(table)["REBUY"] == pytest.approx(0.25)
