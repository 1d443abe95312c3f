"""The product catalogue and the invoice-label variants of every product."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import polars as pl

from reco.demo_data import vocab
from reco.demo_data._sampling import categorical
from reco.vocab import AROMA_AXES, PRICE_BAND_EDGES, PRICE_BANDS

#: Invoice-label variants, in the column order of ``Catalogue.labels`` (see docs/demo-data.md).
LABEL_VARIANTS = (
    "canonical",  # the catalogue label, verbatim
    "upper_no_accents",  # CHATEAU DES ORMES SAINT-EMILION 2019
    "no_accents",  # Chateau des Ormes Saint-Emilion 2019
    "other_vintage",  # vintage one year off (non-vintage wines: volume suffix instead)
    "volume_suffix",  # ... 2019 75cl / 0,75L / - 75CL
    "typo",  # one character dropped, doubled or swapped in the name
    "abbreviated",  # CH. des Ormes St-Emilion 2019 (or upper case when nothing abbreviates)
)
N_VARIANTS = len(LABEL_VARIANTS)

_ABBREVIATIONS = (
    ("Château ", "CH. "),
    ("Domaine ", "DOM. "),
    ("Saint-", "St-"),
    ("Côtes du Rhône", "CDR"),
    ("Côtes de Provence", "C. de Provence"),
    ("Crémant de ", "Cr. "),
    ("Champagne ", "Champ. "),
    ("Muscadet Sèvre-et-Maine", "Muscadet SEM"),
    ("Alsace ", "Als. "),
)


@dataclass(frozen=True)
class Catalogue:
    products: pl.DataFrame  # products.csv, canonical columns
    labels: pl.Series  # flat: labels[product * N_VARIANTS + variant]
    label_id: np.ndarray  # same index: one id per distinct label text
    style: np.ndarray
    tier: np.ndarray  # 0–3 from price (always known here, even where the export leaves it empty)
    price_ttc: np.ndarray
    popularity: np.ndarray
    is_active: np.ndarray
    discontinued_day: np.ndarray  # days since epoch; sales after it go to the successor
    successor: np.ndarray  # product index that replaces an inactive product (itself if active)

    @property
    def keys(self) -> pl.Series:
        return self.products["product_key"]


def default_product_count(customers: int) -> int:
    """~300 products up to 10 k customers, growing log-linearly to 2,000 at 1 M."""
    if customers <= 10_000:
        return 300
    scaled = 300 + 1700 * np.log10(customers / 10_000) / 2
    return int(min(2000, round(scaled)))


def _strip_accents(expr: pl.Expr) -> pl.Expr:
    return expr.str.normalize("NFD").str.replace_all(r"\p{Mn}", "")


def build_catalogue(
    rng: np.random.Generator, n_products: int, start_day: int, end_day: int, end_year: int
) -> Catalogue:
    n_styles = len(vocab.STYLES)
    if n_products < n_styles:
        raise ValueError(f"the catalogue needs at least {n_styles} products (one per wine style)")
    demand = np.zeros(n_styles)
    for share, profile in vocab.TASTE_PROFILES.values():
        weights = np.asarray(vocab.style_weights(profile))
        demand += share * weights / weights.sum()
    demand += 0.5 / n_styles

    # Over-draw candidates (the first one per style is forced), keep the first unique labels.
    n_cand = n_products * 3 + n_styles
    style = np.concatenate([np.arange(n_styles), categorical(rng, demand, n_cand - n_styles)])
    base_price = np.array([s.price for s in vocab.STYLES])[style]
    price = np.maximum(np.floor(base_price * rng.lognormal(0.0, 0.4, n_cand)) + 0.9, 4.9)
    tier = np.digitize(price, vocab.PREMIUM_TIER_EDGES)
    has_vintage = np.array([s.vintage for s in vocab.STYLES])[style]
    age = np.minimum(rng.geometric(0.35, n_cand) - 1 + tier, 12)
    vintage = np.where(has_vintage, end_year - 3 - age, 0)  # not younger than the first sales
    n_prefix = np.array([len(s.prefixes) for s in vocab.STYLES])[style]
    prefix_pos = np.floor(rng.random(n_cand) * n_prefix).astype(np.int64)
    prefix_table = pl.Series([p for s in vocab.STYLES for p in s.prefixes])
    prefix_start = np.cumsum([0] + [len(s.prefixes) for s in vocab.STYLES])[:-1][style]
    name = rng.integers(0, len(vocab.PRODUCER_NAMES), n_cand)
    appellation = pl.Series([s.appellation for s in vocab.STYLES]).gather(style)

    cand = pl.DataFrame(
        {
            "style": style,
            "price": price,
            "tier": tier,
            "vintage": vintage,
            "base": prefix_table.gather(prefix_start + prefix_pos)
            + " "
            + pl.Series(vocab.PRODUCER_NAMES).gather(name)
            + " "
            + appellation,
        }
    ).with_columns(
        product_label=pl.when(pl.col("vintage") > 0)
        .then(pl.format("{} {}", "base", "vintage"))
        .otherwise(pl.col("base"))
    )
    cand = cand.unique("product_label", keep="first", maintain_order=True).head(n_products)
    if cand.height < n_products:
        raise ValueError(f"could only make {cand.height} distinct product labels")

    n = cand.height
    style = cand["style"].to_numpy()
    tier = cand["tier"].to_numpy()
    price = cand["price"].to_numpy()
    styles = vocab.STYLES
    aroma = (
        np.array([s.aroma for s in styles])[style]
        + categorical(rng, [0.2, 0.6, 0.2], n * 7).reshape(n, 7)
        - 1
    )
    aroma = np.clip(aroma, 1, 5)
    tags = np.array([[t in s.tags for t in vocab.SEASON_TAGS] for s in styles])[style]
    tags[:, vocab.SEASON_TAGS.index("christmas")] |= tier == 3
    is_active = rng.random(n) >= 0.10
    is_active[np.argmax(price)] = True  # never an empty active catalogue
    discontinued = np.where(
        is_active,
        end_day + 1,
        start_day + ((0.15 + 0.7 * rng.random(n)) * (end_day - start_day)).astype(np.int64),
    )
    popularity = rng.lognormal(0.0, 1.0, n)

    tag_json = pl.concat_str(
        [pl.when(pl.col(f"tag_{t}")).then(pl.lit(f'"{t}"')) for t in vocab.SEASON_TAGS],
        separator=",",
        ignore_nulls=True,
    )
    products = cand.with_columns(
        product_key=pl.format("P{}", (pl.int_range(pl.len()) + 1).cast(pl.String).str.zfill(5)),
        family_crm=pl.Series([s.family for s in styles]).gather(style),
        cepage=pl.when(pl.Series(rng.random(n) < 0.03))
        .then(pl.lit(None, pl.String))
        .otherwise(pl.Series([s.cepage for s in styles]).gather(style)),
        sucrosite_niveau=pl.Series([s.sugar for s in styles]).gather(style),
        price_band=pl.Series(PRICE_BANDS).gather(np.digitize(price, PRICE_BAND_EDGES)),
        premium_tier=pl.when(pl.Series(rng.random(n) < 0.15))
        .then(pl.lit(None, pl.Int64))
        .otherwise(pl.col("tier")),
        unit_price=pl.col("price"),
        **{f"aroma_{axis}": pl.Series(aroma[:, i]) for i, axis in enumerate(AROMA_AXES)},
        is_active=pl.Series(is_active),
        **{f"tag_{t}": pl.Series(tags[:, i]) for i, t in enumerate(vocab.SEASON_TAGS)},
    ).with_columns(season_tags=pl.format("[{}]", tag_json))
    labels = _label_variants(rng, products)
    successor = _successors(products.select("style", "tier", "family_crm", is_active=pl.Series(is_active)))
    columns = [
        "product_key", "product_label", "family_crm", "cepage", "sucrosite_niveau", "price_band",
        "premium_tier", "unit_price", *[f"aroma_{a}" for a in AROMA_AXES], "is_active",
        "season_tags",
    ]  # fmt: skip
    return Catalogue(
        products=products.select(columns),
        labels=labels,
        label_id=labels.rank("dense").to_numpy().astype(np.int64) - 1,
        style=style,
        tier=tier,
        price_ttc=price,
        popularity=popularity,
        is_active=is_active,
        discontinued_day=discontinued,
        successor=successor,
    )


def _label_variants(rng: np.random.Generator, products: pl.DataFrame) -> pl.Series:
    n = products.height
    base_len = products["base"].str.len_chars().to_numpy()
    typo_pos = 1 + np.floor(rng.random(n) * np.maximum(base_len - 3, 1)).astype(np.int64)
    abbreviated = pl.col("product_label")
    for long, short in _ABBREVIATIONS:
        abbreviated = abbreviated.str.replace(long, short, literal=True)
    pos = pl.col("typo_pos")
    base = pl.col("base")
    typo_base = (
        pl.when(pl.col("typo_kind") == 0)  # a character dropped
        .then(base.str.slice(0, pos) + base.str.slice(pos + 1))
        .when(pl.col("typo_kind") == 1)  # a character doubled
        .then(base.str.slice(0, pos + 1) + base.str.slice(pos))
        .otherwise(  # two characters swapped
            base.str.slice(0, pos)
            + base.str.slice(pos + 1, 1)
            + base.str.slice(pos, 1)
            + base.str.slice(pos + 2)
        )
    )
    with_vintage = pl.when(pl.col("vintage") > 0)
    suffix = pl.col("product_label") + pl.col("volume")
    variants = products.with_columns(
        typo_pos=pl.Series(typo_pos),
        typo_kind=pl.Series(rng.integers(0, 3, n)),
        volume=pl.Series(vocab.VOLUME_SUFFIXES).gather(rng.integers(0, len(vocab.VOLUME_SUFFIXES), n)),
        other_vintage=pl.col("vintage") + pl.Series(np.where(rng.random(n) < 0.5, -1, 1)),
    ).select(
        canonical=pl.col("product_label"),
        upper_no_accents=_strip_accents(pl.col("product_label")).str.to_uppercase(),
        no_accents=_strip_accents(pl.col("product_label")),
        other_vintage=with_vintage.then(pl.format("{} {}", "base", "other_vintage")).otherwise(suffix),
        volume_suffix=suffix,
        typo=with_vintage.then(pl.format("{} {}", typo_base, "vintage")).otherwise(typo_base),
        abbreviated=pl.when(abbreviated == pl.col("product_label"))
        .then(pl.col("product_label").str.to_uppercase())
        .otherwise(abbreviated),
    )
    assert variants.columns == list(LABEL_VARIANTS)
    return variants.select(pl.concat_list(pl.all()).alias("label")).explode("label")["label"]


def _successors(products: pl.DataFrame) -> np.ndarray:
    """The active product that takes over an inactive one's sales: same style and nearest tier,
    else same family, else the first active product."""
    frame = products.with_row_index("idx")
    active = frame.filter("is_active").select("idx", "style", "tier", "family_crm")
    inactive = frame.filter(~pl.col("is_active"))

    def nearest(on: str) -> pl.DataFrame:
        return (
            inactive.join(active, on=on, how="inner", suffix="_to")
            .with_columns(dist=(pl.col("tier") - pl.col("tier_to")).abs())
            .sort("idx", "dist", "idx_to")
            .unique("idx", keep="first", maintain_order=True)
            .select("idx", "idx_to")
        )

    by_style = nearest("style")
    by_family = nearest("family_crm").join(by_style, on="idx", how="anti")
    successor = np.arange(products.height)
    first_active = int(active["idx"][0])
    successor[~products["is_active"].to_numpy()] = first_active
    for mapping in (by_family, by_style):
        successor[mapping["idx"].to_numpy()] = mapping["idx_to"].to_numpy()
    return successor
