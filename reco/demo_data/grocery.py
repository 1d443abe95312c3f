"""A synthetic grocery chain: a second, differently shaped retailer for tests and backtests.

Where the wine merchant has years of history, a few hundred products and receipts, a grocery
chain has a few months, thousands of products and loyalty-card till lines with no receipt
number. :func:`generate_grocery` writes such exports, with the ``reco load`` mappings that
read them (``sales.toml``, ``products.toml``, ``customers.toml``; one basket per card and day):

- ``products.csv``: articles in subclasses (about 11 per subclass; the subclass is the CRM
  family), eight departments, a price, no wine attribute;
- ``customers.csv``: loyalty cards with e-mail and consent flags (opted in, bounced,
  unsubscribed), some without e-mail;
- ``sales.csv``: till lines ``Date;Store;Card;Article;Qty;Net amount`` (decimal comma, day
  first), loose produce sold by weight, a few returns.

The behaviour it holds, so that every scenario has something real to find:

- **weekly rhythm**: each household shops on its own weekday, weekly, twice a week or every
  other week, and skips some trips;
- **staples** re-bought at a personal rate per trip (milk nearly every trip, detergent every
  few weeks): what REPEAT and REBUY find;
- **lifestyles**: products and households belong to one of eight lifestyles (family, vegan,
  baby, pets, …); a household explores mostly its own lifestyle's products, so products
  co-occur: what SAR and CROSS_SELL find;
- **adoption**: a product tried may become a staple, so new purchases predict later ones;
- **promotions**: each week a few percent of the catalogue is 25 % off and is bought more,
  including by households who never bought it;
- **arrivals and departures**: some cards start during the period (NURTURE), some stop
  (WINBACK once the rhythm says they lapsed).

Deterministic for a seed. Vectorised with NumPy: 32 k households and 23 k products (the real
chain's size) take seconds.
"""

from __future__ import annotations

import json
from dataclasses import asdict, dataclass
from datetime import date, timedelta
from pathlib import Path

import numpy as np
import polars as pl

DEFAULT_WEEKS = 17  # four months
DEFAULT_END = date(2026, 9, 27)
DEPARTMENTS = ("DAIRY", "BAKERY", "PRODUCE", "GROCERY", "FROZEN", "DRINKS", "HYGIENE", "HOME")
LIFESTYLES = ("family", "vegan", "baby", "pets", "gourmet", "budget", "health", "snacks")
WORDS = ("bio", "fresh", "light", "classic", "family", "mini", "extra", "value", "gold", "plain")
STORES = ("012", "047", "105", "230")
PRODUCTS_PER_SUBCLASS = 11
PROMO_SHARE = 0.03
PROMO_DISCOUNT = 0.25
OWN_LIFESTYLE = 0.75  # share of a household's explorations within its own lifestyle
ADOPTION = 0.25  # chance that a product tried becomes a staple
SKIP = 0.25  # share of planned trips skipped
EXPLORE = 3.0  # mean products per trip beyond the staples
SWITCH = 0.5  # chance that a staple is bought as another product of its subclass

#: ``reco load`` mappings for the files above (file name: TOML text).
MAPPINGS = {
    "sales.toml": """# Till lines of the synthetic grocery chain: no receipt number, so one basket per
# loyalty card and day.  reco load sales sales.csv --mapping sales.toml
description = "Grocery till lines, no receipt number"
entity = "sales"
delimiter = ";"
decimal = ","
date_format = "%d/%m/%Y"
ignore = ["Store"]

[columns]
customer_code = "Card"
order_date = "Date"
product_key = "Article"
quantity = "Qty"
amount_ht = "Net amount"
doc_ref = { basket = "customer_day" }
country = { constant = "FR" }
""",
    "products.toml": """# Catalogue of the synthetic grocery chain: the subclass is the CRM family; no wine
# attribute.  reco load products products.csv --mapping products.toml
description = "Grocery catalogue, subclass as family"
entity = "products"
delimiter = ";"
decimal = ","
ignore = ["Department"]

[columns]
product_key = "Article"
product_label = "Description"
family_crm = "Subclass"
unit_price = "Price"
""",
    "customers.toml": """# Loyalty cards of the synthetic grocery chain, with their consent flags.
#   reco load customers customers.csv --mapping customers.toml
description = "Grocery loyalty cards"
entity = "customers"
delimiter = ";"

[columns]
customer_code = "Card"
email = "Email"
first_name = "First name"
is_contactable = { from = "Opt-in email", true_values = ["Y"], false_values = ["N"] }
is_bounced = { from = "Bounced", true_values = ["Y"], false_values = ["N"] }
is_optout = { from = "Unsubscribed", true_values = ["Y"], false_values = ["N"] }
""",
}

#: the order the files load in (products and customers first is not required; sales reference
#: them by code only)
LOAD_ORDER = (("sales", "sales.csv"), ("products", "products.csv"), ("customers", "customers.csv"))


@dataclass(frozen=True)
class GroceryManifest:
    households: int
    products: int
    subclasses: int
    weeks: int
    start_date: str
    end_date: str
    seed: int
    sales_lines: int
    baskets: int
    promotions: int

    def as_dict(self) -> dict:
        return asdict(self)


def _decimal_comma(values: pl.Expr, places: int) -> pl.Expr:
    return values.round(places).cast(pl.String).str.replace(".", ",", literal=True)


def _catalogue(rng: np.random.Generator, n: int) -> pl.DataFrame:
    n_sub = max(1, n // PRODUCTS_PER_SUBCLASS)
    sub = np.where(np.arange(n) < n_sub, np.arange(n), rng.integers(0, n_sub, n))
    dept = sub % len(DEPARTMENTS)
    price = np.round(rng.lognormal(1.0, 0.6, n), 2) + 0.19
    # a Zipf-like popularity, shuffled over the catalogue
    popularity = 1.0 / (rng.permutation(n) + 1.0) ** 0.8
    return pl.DataFrame(
        {
            "product": np.arange(n),
            "article": [f"{300000 + i * 7}" for i in range(n)],
            "department": np.array(DEPARTMENTS)[dept],
            "subclass": [f"{DEPARTMENTS[d][:3]}-{s:05d}" for d, s in zip(dept, sub, strict=True)],
            "word": np.array(WORDS)[rng.integers(0, len(WORDS), n)],
            "price": price,
            "weighed": (dept == DEPARTMENTS.index("PRODUCE")) & (rng.random(n) < 0.5),
            "lifestyle": rng.integers(0, len(LIFESTYLES), n),
            "popularity": popularity,
        }
    ).with_columns(
        description=pl.col("department").str.to_titlecase() + " " + pl.col("word") + " " + pl.col("product").cast(pl.String)
    )


class _Sampler:
    """Draws products by popularity, within a lifestyle or over the whole catalogue."""

    def __init__(self, popularity: np.ndarray, lifestyle: np.ndarray) -> None:
        self.order = np.lexsort((np.arange(len(lifestyle)), lifestyle))
        weights = popularity[self.order]
        self.groups = lifestyle[self.order]
        self.starts = np.searchsorted(self.groups, np.arange(len(LIFESTYLES) + 1))
        self.cum = np.cumsum(weights)
        self.base = np.concatenate(([0.0], self.cum))

    def draw(self, rng: np.random.Generator, lifestyle: np.ndarray) -> np.ndarray:
        """One product per entry of ``lifestyle`` (-1: any lifestyle)."""
        lo = np.where(lifestyle >= 0, self.starts[np.maximum(lifestyle, 0)], 0)
        hi = np.where(lifestyle >= 0, self.starts[np.maximum(lifestyle, 0) + 1], len(self.order))
        empty = hi <= lo
        lo, hi = np.where(empty, 0, lo), np.where(empty, len(self.order), hi)
        u = self.base[lo] + rng.random(len(lifestyle)) * (self.base[hi] - self.base[lo])
        pos = np.clip(np.searchsorted(self.cum, u, side="right"), lo, hi - 1)
        return self.order[pos]


class _Siblings:
    """Draws, for a product, a product of the same subclass (itself included), uniformly."""

    def __init__(self, subclass: np.ndarray) -> None:
        self.order = np.argsort(subclass, kind="stable")
        sorted_sub = subclass[self.order]
        _, first, counts = np.unique(sorted_sub, return_index=True, return_counts=True)
        group = np.empty(len(subclass), dtype=np.int64)
        group[self.order] = np.repeat(np.arange(len(first)), counts)
        self.lo, self.size = first[group], counts[group]

    def draw(self, rng: np.random.Generator, products: np.ndarray) -> np.ndarray:
        pick = self.lo[products] + (rng.random(len(products)) * self.size[products]).astype(np.int64)
        return self.order[pick]


def generate_grocery(
    out_dir: Path,
    households: int = 3_000,
    products: int = 6_000,
    *,
    weeks: int = DEFAULT_WEEKS,
    end_date: date = DEFAULT_END,
    seed: int = 7,
) -> GroceryManifest:
    """Write the chain's three exports and their mappings into ``out_dir``."""
    if households < 1 or products < 10 or weeks < 2:
        raise ValueError(
            f"grocery shape: expected at least 1 household, 10 products and 2 weeks, got"
            f" {households}, {products} and {weeks}"
        )
    rng = np.random.default_rng(seed)
    out_dir.mkdir(parents=True, exist_ok=True)
    start = end_date - timedelta(days=7 * weeks - 1)
    cat = _catalogue(rng, products)
    sampler = _Sampler(cat["popularity"].to_numpy(), cat["lifestyle"].to_numpy())
    siblings = _Siblings(cat["subclass"].to_numpy())

    # households: a lifestyle, a weekday, a cadence (trips a week), a span of weeks
    lifestyle = rng.integers(0, len(LIFESTYLES), households)
    weekday = rng.integers(0, 7, households)
    cadence = rng.choice([2.0, 1.0, 0.5, 0.25], size=households, p=[0.05, 0.25, 0.3, 0.4])
    period = np.maximum(np.round(1.0 / cadence), 1).astype(np.int64)  # weeks between trips
    first_week = np.where(rng.random(households) < 0.15, rng.integers(1, weeks, households), 0)
    last_week = np.where(rng.random(households) < 0.12, rng.integers(0, weeks, households), weeks - 1)
    last_week = np.maximum(last_week, first_week)
    store = rng.integers(0, len(STORES), households)

    # staples: a few to a few dozen products each, with a purchase chance per trip
    n_staples = rng.integers(6, 41, households)
    st_h = np.repeat(np.arange(households), n_staples)
    own = rng.random(len(st_h)) < OWN_LIFESTYLE
    st_p = sampler.draw(rng, np.where(own, lifestyle[st_h], -1))
    st_q = rng.beta(1.2, 5.0, len(st_h)) * 0.7 + 0.03

    lines = []
    promotions = 0
    for week in range(weeks):
        promo = rng.random(products) < PROMO_SHARE
        promotions += int(promo.sum())
        promo_items = np.flatnonzero(promo)
        # trips this week: twice-a-week households shop on their day and three days later;
        # fortnightly and monthly ones every 2 or 4 weeks; 15 % of trips are skipped
        active = (first_week <= week) & (week <= last_week)
        trips_h, trips_d = [], []
        for offset, who in (
            (0, active & ((week + np.arange(households)) % period == 0)),
            (3, active & (cadence == 2.0)),
        ):
            h = np.flatnonzero(who & (rng.random(households) >= SKIP))
            trips_h.append(h)
            trips_d.append((weekday[h] + offset) % 7)
        t_h = np.concatenate(trips_h)
        t_day = week * 7 + np.concatenate(trips_d)
        t_day = np.minimum(t_day, 7 * weeks - 1)
        if len(t_h) == 0:
            continue
        # staples bought on each trip: a trip per (household, day), staples joined by household
        trip = pl.DataFrame({"h": t_h, "day": t_day}).unique(maintain_order=True).with_row_index("trip")
        staples = pl.DataFrame({"h": st_h, "p": st_p, "q": st_q})
        bought = trip.join(staples, on="h", maintain_order="left_right")
        boost = np.where(promo[bought["p"].to_numpy()], 1.5, 1.0) / np.maximum(cadence[bought["h"].to_numpy()], 1.0)
        keep = rng.random(bought.height) < np.minimum(bought["q"].to_numpy() * boost, 0.98)
        staple_lines = bought.filter(pl.Series(keep)).select("h", "day", "p")
        # another brand or size of the same subclass, now and then
        sp = staple_lines["p"].to_numpy()
        switch = rng.random(len(sp)) < SWITCH
        staple_lines = staple_lines.with_columns(p=pl.Series(np.where(switch, siblings.draw(rng, sp), sp)))
        # explorations: ~1.2 per trip, in the household's lifestyle mostly, promotions often
        n_explore = rng.poisson(EXPLORE, trip.height)
        e_trip = np.repeat(np.arange(trip.height), n_explore)
        e_h = trip["h"].to_numpy()[e_trip]
        e_own = rng.random(len(e_trip)) < OWN_LIFESTYLE
        e_p = sampler.draw(rng, np.where(e_own, lifestyle[e_h], -1))
        if len(promo_items):
            on_promo = rng.random(len(e_trip)) < 0.3
            e_p = np.where(on_promo, rng.choice(promo_items, len(e_trip)), e_p)
        explore_lines = pl.DataFrame({"h": e_h, "day": trip["day"].to_numpy()[e_trip], "p": e_p})
        # adoption: some products tried become staples
        adopt = rng.random(len(e_trip)) < ADOPTION
        st_h = np.concatenate([st_h, e_h[adopt]])
        st_p = np.concatenate([st_p, e_p[adopt]])
        st_q = np.concatenate([st_q, rng.beta(1.5, 4.0, int(adopt.sum())) * 0.8 + 0.05])
        week_lines = pl.concat([staple_lines, explore_lines]).unique(["h", "day", "p"], maintain_order=True)
        week_lines = week_lines.with_columns(promo=pl.Series(promo[week_lines["p"].to_numpy()]))
        lines.append(week_lines)

    sales = pl.concat(lines) if lines else pl.DataFrame(schema={"h": pl.Int64, "day": pl.Int64, "p": pl.Int64, "promo": pl.Boolean})
    n = sales.height
    weighed = cat["weighed"].to_numpy()[sales["p"].to_numpy()]
    qty = np.where(weighed, np.round(rng.uniform(0.2, 1.8, n), 3), rng.choice([1, 1, 1, 2, 3], n))
    qty = np.where(rng.random(n) < 0.01, -qty, qty)  # a return at the till
    price = cat["price"].to_numpy()[sales["p"].to_numpy()] * np.where(sales["promo"].to_numpy(), 1 - PROMO_DISCOUNT, 1.0)
    cards = pl.Series([f"49{1000000 + i * 13:08d}" for i in range(households)])
    till = (
        sales.with_columns(
            date=pl.lit(start) + pl.duration(days=pl.col("day")),
            store=pl.Series(np.array(STORES)[store[sales["h"].to_numpy()]]),
            card=cards.gather(sales["h"]),
            article=cat["article"].gather(sales["p"]),
            qty=pl.Series(qty, dtype=pl.Float64),
            weighed=pl.Series(weighed),
            net=pl.Series(np.round(qty * price, 2)),
        )
        .sort("date", "store", "card", "article")
        .select(
            Date=pl.col("date").dt.strftime("%d/%m/%Y"),
            Store="store",
            Card="card",
            Article="article",
            Qty=pl.when(pl.col("weighed"))
            .then(_decimal_comma(pl.col("qty"), 3))
            .otherwise(pl.col("qty").cast(pl.Int64).cast(pl.String)),
            **{"Net amount": _decimal_comma(pl.col("net"), 2)},
        )
    )
    till.write_csv(out_dir / "sales.csv", separator=";")

    cat.select(
        Article="article",
        Description="description",
        Subclass="subclass",
        Department="department",
        Price=_decimal_comma(pl.col("price"), 2),
    ).write_csv(out_dir / "products.csv", separator=";")

    i = np.arange(households)
    pl.DataFrame(
        {
            "Card": cards,
            "Email": np.where(rng.random(households) < 0.06, "", [f"client{k}@example.com" for k in i]),
            "First name": [f"Client {k}" for k in i],
            "Opt-in email": np.where(rng.random(households) < 0.09, "N", "Y"),
            "Bounced": np.where(rng.random(households) < 0.04, "Y", "N"),
            "Unsubscribed": np.where(rng.random(households) < 0.05, "Y", "N"),
        }
    ).write_csv(out_dir / "customers.csv", separator=";")

    for name, text in MAPPINGS.items():
        (out_dir / name).write_text(text, encoding="utf-8")
    manifest = GroceryManifest(
        households=households,
        products=products,
        subclasses=cat["subclass"].n_unique(),
        weeks=weeks,
        start_date=start.isoformat(),
        end_date=end_date.isoformat(),
        seed=seed,
        sales_lines=till.height,
        baskets=sales.select("h", "day").n_unique(),
        promotions=promotions,
    )
    (out_dir / "manifest.json").write_text(json.dumps(manifest.as_dict(), indent=2) + "\n", encoding="utf-8")
    return manifest
