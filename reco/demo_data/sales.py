"""Order lines: when people buy, what they buy, and the returns and credit notes that follow.

Everything is drawn for all rows at once (NumPy); the only loops run over years and archetypes.
"""

from __future__ import annotations

import numpy as np
import polars as pl

from reco.demo_data import vocab
from reco.demo_data._days import month_of, year_of
from reco.demo_data._sampling import GroupedSampler, categorical, group_offsets
from reco.demo_data.catalogue import N_VARIANTS, Catalogue
from reco.demo_data.people import Accounts, Archetype, People

#: Probability that a line re-buys one of the person's favourites, by archetype.
FAVOURITE_SHARE = {
    Archetype.LOYAL: 0.85,
    Archetype.DRIFTER: 0.45,
    Archetype.LAPSER: 0.45,
    Archetype.NEW: 0.35,
    Archetype.EXPLORER: 0.05,
    Archetype.RETURNER: 0.85,
}
#: Returners: the chance that a gap between two orders is a pause, and a pause's median length
#: in re-purchase intervals (their orders resume on their favourites).
PAUSE_SHARE = 0.35
PAUSE_INTERVALS = 7.0
#: Rounds of redrawing the lines of explorers and up-traders that should be a product new to
#: the person but are one they already bought (what is left after them stays a re-purchase).
NEW_PRODUCT_ROUNDS = 6
POPULAR_SHARE = 0.10
RETURN_SHARE = 0.006  # of sale lines
CANCELLED_SHARE = 0.004  # of invoices
DUPLICATE_ACCOUNT_USE = 0.7  # share of a person's orders on the duplicate code once it exists
QUANTITIES = np.array([1, 2, 3, 6, 12])
#: Label variant probabilities (catalogue.LABEL_VARIANTS order) when the ERP has the product key,
#: and when it has only the label (shop tills, manual entries).
VARIANT_P_KEYED = [0.62, 0.14, 0.05, 0.05, 0.07, 0.03, 0.04]
VARIANT_P_UNKEYED = [0.30, 0.24, 0.08, 0.08, 0.12, 0.08, 0.10]
PRICE_GROWTH = 1.025  # shelf prices rise 2.5% a year


class ProductPicker:
    """Draws products for (taste profile, wanted tier) rows: profile → style → product."""

    def __init__(self, cat: Catalogue) -> None:
        profiles = [weights for _, weights in vocab.TASTE_PROFILES.values()] + [vocab.FESTIVE_PROFILE]
        n_styles = len(vocab.STYLES)
        style_w = np.array([vocab.style_weights(p) for p in profiles])
        self.festive = len(profiles) - 1
        self.summer = list(vocab.TASTE_PROFILES).index("ete_rose")
        rows, cols = np.nonzero(style_w)
        self.styles = GroupedSampler(rows, style_w[rows, cols], len(profiles))
        self.style_of_item = cols
        # (style, tier) groups, falling back to the nearest tier the style has.
        present = np.zeros((n_styles, 4), dtype=bool)
        present[cat.style, cat.tier] = True
        tiers = np.arange(4)
        dist = (
            np.abs(tiers[:, None] - tiers[None, :])
            + np.where(present[:, None, :], 0, 99)
            + tiers[None, None, :] * 0.01
        )
        self.nearest_tier = dist.argmin(axis=2)  # [style, wanted] -> tier present
        self.products = GroupedSampler(cat.style * 4 + cat.tier, cat.popularity, n_styles * 4)
        self.popular = GroupedSampler(np.zeros(len(cat.style), np.int64), cat.popularity, 1)

    def draw(self, rng: np.random.Generator, profile: np.ndarray, tier: np.ndarray) -> np.ndarray:
        style = self.style_of_item[self.styles.draw(rng, profile)]
        return self.products.draw(rng, style * 4 + self.nearest_tier[style, tier])


def _orders(rng: np.random.Generator, people: People, start_day: int, end_day: int, xmas_days: np.ndarray):
    """(person, day, is_christmas) for every order."""
    arch = people.archetype
    span = (people.last_day - people.first_day).astype(np.float64)
    repeat = (arch != Archetype.ONE_TIMER) & (arch != Archetype.PROSPECT)
    n_cand = np.where(repeat, np.ceil(span / people.interval * 1.5).astype(np.int64) + 2, 0)
    person = np.repeat(np.arange(len(people)), n_cand)
    gaps = rng.gamma(3.0, people.interval[person] / 3.0)
    # returners pause for months now and then (lapsed by their own rhythm), then come back
    pause = (arch[person] == Archetype.RETURNER) & (rng.random(len(gaps)) < PAUSE_SHARE)
    gaps[pause] *= rng.lognormal(np.log(PAUSE_INTERVALS), 0.3, int(pause.sum()))
    gaps[group_offsets(n_cand) == 0] = 0.0  # the first order opens the window
    cum = np.cumsum(gaps)
    starts = np.minimum(np.cumsum(n_cand) - n_cand, max(len(cum) - 1, 0))
    cum -= np.repeat(cum[starts], n_cand) if len(cum) else 0.0
    day = people.first_day[person] + cum.astype(np.int64)
    keep = day <= people.last_day[person]
    month = month_of(day)
    keep &= ~((month == 8) & (rng.random(len(day)) < 0.35))  # the August lull
    person, day = person[keep], day[keep]

    once = np.flatnonzero(arch == Archetype.ONE_TIMER)
    parts_p, parts_d, parts_x = (
        [person, once],
        [day, people.first_day[once]],
        [np.zeros(len(day), bool), np.zeros(len(once), bool)],
    )
    # Christmas: many active customers place one extra, festive order in early December.
    p_xmas = np.select(
        [
            np.isin(arch, [Archetype.LOYAL, Archetype.DRIFTER, Archetype.EXPLORER]),
            np.isin(arch, [Archetype.LAPSER, Archetype.NEW]),
            arch == Archetype.RETURNER,
        ],
        [0.4, 0.25, 0.15],
        0.0,
    )
    for dec1 in xmas_days:
        active = (
            (people.first_day <= dec1 + 20) & (people.last_day >= dec1) & (rng.random(len(people)) < p_xmas)
        )
        who = np.flatnonzero(active)
        xday = np.maximum(dec1 + rng.integers(0, 23, len(who)), people.first_day[who])
        parts_p.append(who)
        parts_d.append(xday)
        parts_x.append(np.ones(len(who), bool))
    person, day, xmas = np.concatenate(parts_p), np.concatenate(parts_d), np.concatenate(parts_x)
    day = np.clip(day, start_day, end_day)
    order = np.lexsort((person, day))
    return person[order], day[order], xmas[order]


def _new_to_person(
    rng: np.random.Generator,
    picker: ProductPicker,
    cat: Catalogue,
    person: np.ndarray,
    day: np.ndarray,
    product: np.ndarray,
    seeking: np.ndarray,
    people: People,
    tier: np.ndarray,
) -> np.ndarray:
    """``product`` with the ``seeking`` lines that repeat an earlier purchase of the same
    person redrawn (``NEW_PRODUCT_ROUNDS`` times at most) from either of their taste profiles,
    explorers at their tier ± 1 and up-traders at their tier or one above: the next product in
    their taste that they have not had yet. Lines are in date order."""
    explorer = people.archetype[person] == Archetype.EXPLORER
    # only the lines of the persons who seek can repeat one of theirs that must be new
    lines = np.flatnonzero(np.isin(person, np.unique(person[seeking])))
    product = product.copy()
    for _ in range(NEW_PRODUCT_ROUNDS):
        key = person[lines] * len(cat.style) + product[lines]
        first = pl.Series(key).is_first_distinct().to_numpy()
        redraw = lines[seeking[lines] & ~first]
        if not len(redraw):
            break
        who = person[redraw]
        profile = np.where(rng.random(len(redraw)) < 0.5, people.profile1[who], people.profile2[who])
        step = np.where(explorer[redraw], rng.integers(-1, 2, len(redraw)), rng.integers(0, 2, len(redraw)))
        drawn = picker.draw(rng, profile, np.clip(tier[redraw] + step, 0, 3))
        drawn = np.where(day[redraw] >= cat.discontinued_day[drawn], cat.successor[drawn], drawn)
        product[redraw] = drawn
    return product


def simulate_lines(
    rng: np.random.Generator,
    people: People,
    accounts: Accounts,
    cat: Catalogue,
    start_day: int,
    end_day: int,
    xmas_days: np.ndarray,
) -> pl.DataFrame:
    """Every sale line, one row each (before returns and credit notes)."""
    o_person, o_day, o_xmas = _orders(rng, people, start_day, end_day, xmas_days)
    n_orders = len(o_person)
    o_store = rng.random(n_orders) < people.store_share[o_person]
    # The account used: the duplicate code takes over part of the orders once it exists.
    dup = accounts.dup_account[o_person]
    use_dup = (
        (dup >= 0)
        & (o_day >= accounts.dup_since_day[o_person])
        & (rng.random(n_orders) < DUPLICATE_ACCOUNT_USE)
    )
    o_account = np.where(use_dup, dup, o_person)

    n_lines = np.minimum(np.where(o_xmas, 2 + rng.poisson(1.2, n_orders), 1 + rng.poisson(0.9, n_orders)), 10)
    order = np.repeat(np.arange(n_orders), n_lines)
    person = o_person[order]
    day = o_day[order]
    xmas = o_xmas[order]
    n = len(order)
    arch = people.archetype[person]
    window = np.maximum(people.last_day[person] - people.first_day[person], 1)
    progress = np.clip((day - people.first_day[person]) / window, 0.0, 1.0)

    picker = ProductPicker(cat)
    # Favourites: up to 4 per person, drawn from the main profile at the preferred tier.
    n_people = len(people)
    fav = picker.draw(rng, np.repeat(people.profile1, 4), np.repeat(people.base_tier, 4)).reshape(n_people, 4)
    n_fav = 1 + rng.binomial(3, 0.5, n_people)

    p_fav = np.zeros(n)
    for archetype, share in FAVOURITE_SHARE.items():
        p_fav[arch == archetype] = share
    p_fav[arch == Archetype.DRIFTER] *= 1.0 - progress[arch == Archetype.DRIFTER]
    u = rng.random(n)
    use_fav = (u < p_fav) & ~(xmas & (rng.random(n) < 0.5))
    use_pop = ~use_fav & (u < p_fav + POPULAR_SHARE)

    profile = np.where(rng.random(n) < 0.75, people.profile1[person], people.profile2[person])
    month = month_of(day)
    profile = np.where((month >= 6) & (month <= 8) & (rng.random(n) < 0.25), picker.summer, profile)
    profile = np.where(xmas & (rng.random(n) < 0.5), picker.festive, profile)
    drift = np.where(arch == Archetype.DRIFTER, np.round(progress * 2.5), 0).astype(np.int64)
    noise = categorical(rng, [0.12, 0.76, 0.12], n) - 1
    # staple buyers never pick above their own price level (Christmas aside); explorers and
    # up-traders range above it
    noise[(noise > 0) & ~np.isin(arch, [Archetype.EXPLORER, Archetype.DRIFTER])] = 0
    tier = np.clip(people.base_tier[person] + drift + noise + (xmas & (rng.random(n) < 0.5)), 0, 3)

    product = picker.draw(rng, profile, tier)
    k = np.floor(rng.random(n) ** 1.7 * n_fav[person]).astype(np.int64)
    product = np.where(use_fav, fav[person, k], product)
    product = np.where(use_pop, picker.popular.draw(rng, np.zeros(n, np.int64)), product)
    # Discontinued products: later sales go to the successor (the next vintage, say).
    product = np.where(day >= cat.discontinued_day[product], cat.successor[product], product)
    # Explorers' and up-traders' own picks are products new to them, when their taste has one.
    seeking = ~use_fav & ~use_pop & np.isin(arch, [Archetype.EXPLORER, Archetype.DRIFTER])
    product = _new_to_person(rng, picker, cat, person, day, product, seeking, people, tier)

    # One line per product in an order (an order's lines are distinct products).
    _, first = np.unique(order * len(cat.style) + product, return_index=True)
    keep = np.sort(first)
    order, product, day, xmas = order[keep], product[keep], day[keep], xmas[keep]
    n = len(order)

    qty = QUANTITIES[categorical(rng, [0.45, 0.25, 0.12, 0.15, 0.03], n)]
    qty = np.where(xmas & (rng.random(n) < 0.2), 6, qty)
    keyed = ~o_store[order] | (rng.random(n) < 0.4)
    keyed &= rng.random(n) >= 0.03  # the odd manual line even online
    variant = np.where(
        keyed,
        categorical(rng, VARIANT_P_KEYED, n),
        categorical(rng, VARIANT_P_UNKEYED, n),
    )
    # An invoice's labels are distinct too (two vintages of a wine may share a variant label).
    label = cat.label_id[product * N_VARIANTS + variant]
    _, first = np.unique(order * (int(cat.label_id.max()) + 1) + label, return_index=True)
    keep = np.sort(first)
    order, product, day, qty, keyed, variant = (a[keep] for a in (order, product, day, qty, keyed, variant))
    _, lines_per_order = np.unique(order, return_counts=True)

    year = year_of(day)
    end_year = int(year_of(np.array([end_day]))[0])
    discount = np.select([qty >= 12, qty >= 6], [0.90, 0.95], 1.0)
    unit_ht = np.round(
        cat.price_ttc[product] / (1 + vocab.VAT_RATE) * PRICE_GROWTH ** (year - end_year) * discount,
        2,
    )
    return pl.DataFrame(
        {
            "order": order,
            "day": day,
            "account": o_account[order],
            "product": product,
            "keyed": keyed,
            "variant": variant,
            "quantity": qty,
            "unit_price": unit_ht,
            "line_no": group_offsets(lines_per_order),
        }
    )


def add_returns_and_credit_notes(rng: np.random.Generator, lines: pl.DataFrame, end_day: int) -> pl.DataFrame:
    """Returns (a later invoice with a negative line) and cancelled invoices (an ``AV-`` credit
    note reversing every line). Adds ``doc_kind`` (FA | AV)."""
    n = lines.height
    n_orders = int(lines["order"].max()) + 1 if n else 0
    ret_pick = rng.random(n) < RETURN_SHARE
    returns = lines.filter(pl.Series(ret_pick)).with_columns(
        day=pl.col("day") + pl.Series(rng.integers(3, 30, int(ret_pick.sum()))),
        line_no=pl.lit(0, pl.Int64),
        quantity=-(
            1 + pl.Series(rng.binomial(np.maximum(lines["quantity"].to_numpy()[ret_pick] - 1, 0), 0.3))
        ),
    )
    returns = returns.with_columns(order=n_orders + pl.int_range(pl.len())).filter(pl.col("day") <= end_day)

    docs = pl.concat([lines.with_columns(doc_kind=pl.lit("FA")), returns.with_columns(doc_kind=pl.lit("FA"))])
    order = lines["order"].to_numpy()
    cancelled = (rng.random(n_orders) < CANCELLED_SHARE)[order]
    delay = rng.integers(1, 11, n_orders)[order]
    credit = (
        lines.filter(pl.Series(cancelled))
        .with_columns(
            day=pl.col("day") + pl.Series(delay[cancelled]),
            quantity=-pl.col("quantity"),
            doc_kind=pl.lit("AV"),
        )
        .filter(pl.col("day") <= end_day)
    )
    return pl.concat([docs, credit])


def number_documents(lines: pl.DataFrame) -> pl.DataFrame:
    """Invoice numbers ``FA<year>-<7 digits>`` in date order within each year; a credit note is
    ``AV-`` + the number of the invoice it cancels. Returns the lines in export order."""
    order = lines["order"].to_numpy()
    day = lines["day"].to_numpy()
    credit = (lines["doc_kind"] == "AV").to_numpy()
    docs, first = np.unique(order[~credit], return_index=True)  # every invoice, by order id
    doc_day = day[~credit][first]
    doc_account = lines["account"].to_numpy()[~credit][first]
    by_date = np.lexsort((docs, doc_account, doc_day))
    year_sorted = year_of(doc_day[by_date])
    seq = np.empty(len(docs), dtype=np.int64)
    seq[by_date] = np.arange(len(docs)) - np.searchsorted(year_sorted, year_sorted, side="left") + 1
    year = np.empty(len(docs), dtype=np.int64)
    year[by_date] = year_sorted
    invoice = pl.select(
        pl.format("FA{}-{}", pl.lit(year), pl.lit(seq).cast(pl.String).str.zfill(7))
    ).to_series()
    pos = np.searchsorted(docs, order)  # a credit note's order is the invoice it cancels
    number = invoice.gather(pos)
    # Export order: date, then doc_ref as text ("AV-…" sorts before "FA…"), then line.
    sort = np.lexsort((lines["line_no"].to_numpy(), seq[pos], year[pos], ~credit, day))
    return lines.with_columns(
        doc_ref=pl.when(pl.Series(credit)).then(pl.lit("AV-") + number).otherwise(number)
    ).select(pl.all().gather(sort))
