"""CROSS_SELL's attribute neighbours: compared between attribute profiles, not products, and
still exactly the best ones of the full product × product comparison."""

from __future__ import annotations

import numpy as np
import polars as pl
from hypothesis import given, settings
from hypothesis import strategies as st

from reco.scoring.features import attribute_neighbours
from reco.vocab import AROMA_AXES

AROMA = [f"aroma_{a}" for a in AROMA_AXES]


def _products(seed: int, n: int, shape: str) -> pl.DataFrame:
    rng = np.random.default_rng(seed)

    def some(values: list, null_share: float) -> list:
        return [None if rng.random() < null_share else values[rng.integers(len(values))] for _ in range(n)]

    # grocery: a family (subclass) and nothing else; wine: family, grape and aromas, with gaps
    wine = shape == "wine"
    frame = {
        "pid": np.arange(n, dtype=np.uint32),
        "is_active": rng.random(n) < 0.8,
        "family": some([f"f{i}" for i in range(max(1, n // 6))], 0.1),
        "cepage": some(["Merlot", "Syrah", "Muscat"], 0.3) if wine else [None] * n,
    }
    for a in AROMA:
        frame[a] = some([1, 2, 3, 4, 5], 0.2 if wine else 1.0)
    return pl.DataFrame(frame, schema_overrides={"cepage": pl.String, **dict.fromkeys(AROMA, pl.Int32)})


def _brute_force(products: pl.DataFrame, thin: pl.DataFrame, weight: float, n: int) -> pl.DataFrame:
    """Every thin product against every active one, the n best kept (ties: smaller nb)."""
    other = products.filter("is_active").select(pl.all().name.suffix("_b"))
    aroma = 1 - pl.mean_horizontal((pl.col(a) - pl.col(f"{a}_b")).abs() for a in AROMA) / 4
    return (
        products.join(thin, on="pid", how="semi")
        .join(other, how="cross")
        .filter(pl.col("pid") != pl.col("pid_b"))
        .select(
            "pid",
            nb="pid_b",
            sim=weight
            * pl.mean_horizontal(
                (pl.col("family") == pl.col("family_b")).cast(pl.Float64),
                (pl.col("cepage") == pl.col("cepage_b")).cast(pl.Float64),
                aroma,
            ),
        )
        .filter(pl.col("sim") > 0)
        .sort(["pid", "sim", "nb"], descending=[False, True, False])
        .group_by("pid", maintain_order=True)
        .head(n)
    )


@settings(max_examples=40, deadline=None)
@given(
    st.integers(0, 2**32 - 1),
    st.integers(1, 120),
    st.sampled_from(["wine", "grocery"]),
    st.integers(1, 25),
    st.floats(0.05, 1.0),
)
def test_attribute_neighbours_are_the_best_of_every_pair(seed, n_products, shape, n, share_thin):
    products = _products(seed, n_products, shape)
    thin = products.sample(fraction=share_thin, seed=seed % 1000).select("pid")
    active = products.filter("is_active").select(nb="pid")
    got = (
        attribute_neighbours(products, thin.lazy(), active.lazy(), 0.5, n)
        .sort(["pid", "sim", "nb"], descending=[False, True, False])
        .group_by("pid", maintain_order=True)
        .head(n)
        .select("pid", "nb", "sim")
        .collect()
    )
    assert got.equals(_brute_force(products, thin, 0.5, n))


def test_a_grocery_products_attribute_neighbours_are_its_subclass():
    # 20,000 products in 2,000 subclasses, every one thin: the full comparison would be
    # 4·10⁸ pairs; the profiles' is 4·10⁶, and each product gets its subclass
    n = 20_000
    products = pl.DataFrame(
        {
            "pid": np.arange(n, dtype=np.uint32),
            "is_active": np.ones(n, dtype=bool),
            "family": [f"s{i % 2_000}" for i in range(n)],
            "cepage": [None] * n,
            **{a: [None] * n for a in AROMA},
        },
        schema_overrides={"cepage": pl.String, **dict.fromkeys(AROMA, pl.Int32)},
    )
    got = attribute_neighbours(
        products, products.lazy().select("pid"), products.lazy().select(nb="pid"), 0.5, 20
    ).collect()
    assert got.height == n * 9
    assert (got["sim"] == 0.5).all()
    assert got.filter((pl.col("pid") % 2_000) != (pl.col("nb") % 2_000)).is_empty()
