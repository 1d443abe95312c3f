"""The shortcut that keeps select_top fast (pruning the picks that cannot make a list) gives
exactly the lists of the plain definition (hypothesis draws the rows, with ties, missing
families and fallback fills)."""

from __future__ import annotations

import polars as pl
from hypothesis import given, settings
from hypothesis import strategies as st

from reco.scoring.assign import _position, select_top
from reco.scoring.config import config_from_dict

rows = st.lists(
    st.tuples(
        st.integers(0, 4),  # cid
        st.integers(0, 11),  # pid
        st.sampled_from([0.1, 0.25, 0.5, 0.5, 1.0, 2.0]),  # score: ties on purpose
        st.sampled_from([0.0, 1.0]),  # tb
        st.sampled_from([0, 0, 0, 1]),  # fill
    ),
    max_size=60,
)


def _products() -> pl.DataFrame:
    families = ["a", "b", None, "a", "c", "b", None, "a", "d", "c", "a", "b"]
    return pl.DataFrame(
        {"pid": range(12), "family": families, "pop_rank": [5, 2, 9, 1, 7, 3, 12, 4, 8, 6, 11, 10]},
        schema={"pid": pl.UInt32, "family": pl.String, "pop_rank": pl.UInt32},
    )


def _plain_top(cands: pl.DataFrame, products: pl.DataFrame, top_n: int, cap: int) -> pl.DataFrame:
    """The lists by their definition: best first, at most ``cap`` of a family, first top_n."""
    order = ["fill", "score", "tb", "pop_rank"]
    ranked = cands.join(products, on="pid").sort(
        ["cid", *order], descending=[False, False, True, True, False]
    )
    if cap > 0:
        n_in_family = pl.int_range(pl.len()).over("cid", "family")
        keep = pl.when(pl.col("family").is_null()).then(top_n).otherwise(min(cap, top_n))
        ranked = ranked.filter(n_in_family < keep)
    return ranked.filter(_position("cid") < top_n).select("cid", "pid")


@settings(max_examples=200, deadline=None)
@given(rows, st.integers(1, 3), st.integers(0, 3))
def test_select_top_keeps_the_lists_a_plain_sort_and_family_cap_give(data, top_n, cap):
    cands = pl.DataFrame(
        data,
        schema={"cid": pl.UInt32, "pid": pl.UInt32, "score": pl.Float64, "tb": pl.Float64, "fill": pl.Int8},
        orient="row",
    ).unique(["cid", "pid"], keep="first", maintain_order=True)
    config = config_from_dict({"rules": {"top_n": top_n, "max_per_family": cap}})
    products = _products()
    got = select_top(cands.lazy(), products, config, cap).collect()
    assert got.select("cid", "pid").equals(_plain_top(cands, products, top_n, cap))
    ranks = got.group_by("cid", maintain_order=True).agg("rank")["rank"].to_list()
    assert all(r == list(range(1, len(r) + 1)) for r in ranks)
