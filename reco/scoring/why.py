"""Reasons in plain words: the ``why`` of a customer's scenario and of each recommended product
(``reasons_json.scenario_why`` and ``reasons_json.why``), and why a run gave a scenario to
nobody. The only place the words live (docs/scoring.md, "Reasons in words").

Every sentence is built from facts of the run's own data — orders, days, co-buyers, tiers —
with product *names* (``product_label``), never codes. A fact that is missing (no name, no
family, no tier, no cycle) drops the sentence that needs it for a more generic one, so a
retailer without wine attributes still reads plain words and never "None" or "NaN".

Time in words: "ago" counts whole units elapsed (13 days, then weeks up to 60 days, months up
to two years, then years; a month is 30.4375 days); a rhythm ("every …") rounds to the nearest
unit with the same bounds.
"""

from __future__ import annotations

import polars as pl

from reco.scoring.features import SEASON_OF_MONTH
from reco.scoring.scenarios import Context

#: days in a month and a year, for time in words
MONTH, YEAR = 30.4375, 365.25
#: "one tier up", "two tiers up", ...
STEPS = {1: "one tier up", 2: "two tiers up", 3: "three tiers up"}
#: the generic end of every chain: a product the run recommends for no sayable reason
ANY_PRODUCT = "a pick from our range"
#: the scenario's gist when the assignment guard gave everyone one simple list
_SIMPLE = "(the simple list: tailored picks did not do better on our recent sales)"
GUARD_GIST = {"repeat": f"your most-bought products {_SIMPLE}", "pop": f"our best sellers {_SIMPLE}"}
#: the key of :func:`product_why`'s sentence for fallback fills
FILL = "fill"
#: season tags in words
SEASON_WORDS = {"christmas": "Christmas", "easter": "Easter"}


# -- small words, as expressions ---------------------------------------------------------------


def counted(n: pl.Expr, noun: str, plural: str | None = None) -> pl.Expr:
    """ "1 order", "3 orders"."""
    plural = plural or f"{noun}s"
    return pl.when(n == 1).then(pl.lit(f"1 {noun}")).otherwise(pl.format(f"{{}} {plural}", n.cast(pl.Int64)))


def ago(days: pl.Expr) -> pl.Expr:
    """ "today", "yesterday", "9 days ago", "6 weeks ago", "14 months ago", "3 years ago"
    (whole units elapsed; null for null)."""
    d = days.cast(pl.Int64)
    return (
        pl.when(d <= 0)
        .then(pl.lit("today"))
        .when(d == 1)
        .then(pl.lit("yesterday"))
        .when(d < 14)
        .then(pl.format("{} days ago", d))
        .when(d < 61)
        .then(pl.format("{} weeks ago", d // 7))
        .when(d < 730)
        .then(pl.format("{} months ago", (d / MONTH).floor().cast(pl.Int64)))
        .otherwise(pl.format("{} years ago", (d / YEAR).floor().cast(pl.Int64)))
    )


def period(days: pl.Expr) -> pl.Expr:
    """A rhythm: "day", "4 days", "5 weeks", "3 months", "2 years" (nearest unit; null for
    null), to follow "every"."""
    d = days.cast(pl.Float64)
    return (
        pl.when(d < 1.5)
        .then(pl.lit("day"))
        .when(d < 13.5)
        .then(pl.format("{} days", d.round().cast(pl.Int64)))
        .when(d < 60.5)
        .then(pl.format("{} weeks", (d / 7).round().cast(pl.Int64)))
        .when(d < 730)
        .then(pl.format("{} months", (d / MONTH).round().cast(pl.Int64)))
        .otherwise(pl.format("{} years", (d / YEAR).round().cast(pl.Int64)))
    )


def money(amount: pl.Expr) -> pl.Expr:
    """12.5 → "12.50" (null for null or NaN)."""
    cents = pl.when(amount.is_nan()).then(None).otherwise(amount).mul(100).round().cast(pl.Int64)
    return pl.format("{}.{}", cents // 100, (cents % 100).cast(pl.String).str.zfill(2))


def text(col: str | pl.Expr) -> pl.Expr:
    """A name as a sentence may print it: null when missing or blank."""
    value = pl.col(col) if isinstance(col, str) else col
    value = value.cast(pl.String).str.strip_chars()
    return pl.when(value != "").then(value)


# -- the sentences -------------------------------------------------------------------------------


def _season(ctx: Context) -> pl.Expr:
    """ "a Christmas pick" for a product whose season tags hold the season of as_of."""
    tags = pl.col("season_tags").cast(pl.String).str.to_lowercase()
    return pl.coalesce(
        pl.when(tags.str.contains(f'"{t}"', literal=True)).then(pl.lit(f"a {SEASON_WORDS.get(t, t)} pick"))
        for t in SEASON_OF_MONTH[ctx.as_of.month]
    )


def product_why(ctx: Context) -> dict[str, pl.Expr]:
    """Per scenario (and ``FILL`` for fallback fills), the product's ``why`` on a frame of its
    items with the columns :func:`annotate` joins: the first sentence that holds, in the
    scenario's order (fills: popularity only)."""
    days = ctx.config.rules.popularity_days
    rhythm = pl.format(
        "you buy it every {}; last time {}", period(pl.col("own_interval")), ago(pl.col("own_days"))
    )
    once = pl.when(pl.col("own_orders") == 1).then(
        pl.format("you bought it once, {}", ago(pl.col("own_days")))
    )
    own = pl.when(pl.col("own_orders") >= 2).then(rhythm).otherwise(once)
    past = (
        pl.when(pl.col("own_orders") == 1)
        .then(pl.format("you bought it {}", ago(pl.col("own_days"))))
        .otherwise(
            pl.format(
                "you bought it {}, the last {}",
                counted(pl.col("own_orders"), "time"),
                ago(pl.col("own_days")),
            )
        )
    )
    seed = pl.coalesce(text("seed_label"), pl.lit("one of your purchases"))
    with_seed = (
        pl.when(pl.col("co_buyers") >= 1)
        .then(pl.format("often bought with {} ({})", seed, counted(pl.col("co_buyers"), "customer")))
        .when(pl.col("because_pid").is_not_null())
        .then(pl.format("similar to {}, which you bought", seed))
    )
    step = (pl.col("tier") - pl.col("usual_tier")).cast(pl.Int64)
    step_words = pl.coalesce(
        *[pl.when(step == k).then(pl.lit(w)) for k, w in STEPS.items()],
        pl.when(step > 0).then(pl.format("{} tiers up", step)),
    )
    usual = pl.coalesce(
        pl.when(text("family") == text("family_1")).then(text("family")),
        pl.when(text("family") == text("family_2")).then(text("family")),
        pl.when(text("cepage") == text("cepage_1")).then(text("cepage")),
    )
    up = pl.when(step > 0).then(
        pl.format("{} from your usual {}", step_words, pl.coalesce(usual, pl.lit("choice")))
    )
    liked = pl.when((text("family") == text("family_1")) | (text("family") == text("family_2"))).then(
        pl.format("popular with customers who buy {}, like you", text("family"))
    )
    popular = pl.when(pl.col("buyers_recent") > 0).then(
        pl.format(
            "bought by {} in the last {} days", counted(pl.col("buyers_recent"), "customer"), pl.lit(days)
        )
    )
    generic = [liked, popular, pl.lit(ANY_PRODUCT)]
    by_scenario = {
        "REBUY": [own, *generic],
        "WINBACK": [pl.when(pl.col("own_orders") >= 1).then(past), *generic],
        "NURTURE": [with_seed, _season(ctx), *generic],
        "UPSELL": [up, with_seed, *generic],
        "CROSS_SELL": [with_seed, *generic],
    }
    return {s: pl.coalesce(chain) for s, chain in by_scenario.items()} | {FILL: pl.coalesce(generic)}


def scenario_why(ctx: Context, fallback: str | None) -> dict[str, pl.Expr]:
    """The ``scenario_why`` of the customer (the same on each of their items): what puts them
    in their scenario, from their own orders; ``fallback``: the assignment guard's choice
    ("repeat", "pop") when it gave everyone one simple list."""
    n = pl.col("n_orders")
    last = ago(pl.col("days_since_last"))
    cycle = period(pl.col("cycle_days"))
    orders = pl.coalesce(
        pl.when(n == 1).then(pl.format("1 order, {}", last)),
        pl.when(n >= 2).then(pl.format("{}, the last {}", counted(n, "order"), last)),
        pl.lit("no order yet"),
    )
    regular = pl.coalesce(pl.format("you order every {}; last order {}", cycle, last), orders)
    lapsed = pl.coalesce(
        pl.format("last order {}; you used to order every {}", last, cycle),
        pl.format("last order {}", last),
        pl.lit("no recent order"),
    )
    new = pl.coalesce(
        pl.when(n == 1).then(pl.format("new customer: 1 order so far, {}", last)),
        pl.when((n >= 2) & (n <= ctx.config.nurture.max_orders)).then(
            pl.format("new customer: {} so far, the last {}", counted(n, "order"), last)
        ),
        pl.when(n > ctx.config.nurture.max_orders).then(
            pl.format("{}; no other scenario fits: popular picks in your taste", orders)
        ),
        pl.lit("no order yet: our popular picks"),
    )
    budget = money(pl.col("avg_price"))
    usual_tier = pl.coalesce(
        pl.format(
            "you usually buy tier {} at about {} a unit; a step up within your budget",
            pl.col("usual_tier").cast(pl.Int64),
            budget,
        ),
        pl.format("you usually buy tier {}; a step up", pl.col("usual_tier").cast(pl.Int64)),
        pl.lit("a step up from what you usually buy"),
    )
    words = {
        "REBUY": regular,
        "WINBACK": lapsed,
        "NURTURE": new,
        "UPSELL": usual_tier,
        "CROSS_SELL": pl.format("customers who bought what you bought also chose these; {}", orders),
    }
    if fallback in GUARD_GIST:
        scenario = "REBUY" if fallback == "repeat" else "NURTURE"
        words[scenario] = pl.format(f"{GUARD_GIST[fallback]}; {{}}", orders)
    return words


def annotate(items: pl.DataFrame, ctx: Context, fallback: str | None = None) -> pl.DataFrame:
    """``items`` (cid, pid, fill, scenario, because_pid, reasons_json, ...) with ``why`` and
    ``scenario_why`` added to each reasons_json (the JSON object gains the two keys first).
    Each scenario's sentences are evaluated on its own rows only, the scenario's once per
    customer."""
    h, products = ctx.history, ctx.products
    customers = h.customers.lazy().select(
        "cid",
        "n_orders",
        "days_since_last",
        "usual_tier",
        "avg_price",
        "family_1",
        "family_2",
        "cepage_1",
        pl.col("cycle_days")
        if "cycle_days" in h.customers.columns
        else pl.lit(None, pl.Float64).alias("cycle_days"),
    )
    attrs = products.lazy().select(
        "pid", "family", "cepage", "tier", "buyers_recent", pl.col("season_tags").cast(pl.String)
    )
    seeds = products.lazy().select(because_pid="pid", seed_label="product_label")
    own = h.cp.lazy().select(
        "cid", "pid", own_orders="n_orders", own_days="days_since", own_interval="interval"
    )
    nb = h._cache.get("neighbours")
    co = (
        nb.lazy().select(because_pid="pid", pid="nb", co_buyers="co_n")
        if nb is not None and "co_n" in nb.columns
        else pl.LazyFrame(schema={"because_pid": pl.UInt32, "pid": pl.UInt32, "co_buyers": pl.UInt32})
    )
    rows = items.lazy().select("cid", "pid", "fill", "scenario", pl.col("because_pid").cast(pl.UInt32))
    rows = rows.with_row_index("row")
    facts = (
        rows.join(
            customers.select("cid", "family_1", "family_2", "cepage_1", "usual_tier"), on="cid", how="left"
        )
        .join(attrs, on="pid", how="left")
        .join(seeds, on="because_pid", how="left")
        .join(own, on=["cid", "pid"], how="left")
        .join(
            co.with_columns(pl.col("because_pid", "pid").cast(pl.UInt32)),
            on=["because_pid", "pid"],
            how="left",
        )
    )
    by_product = [
        facts.filter(
            pl.col("fill") > 0 if s == FILL else (pl.col("fill") == 0) & (pl.col("scenario") == s)
        ).select("row", why=expr)
        for s, expr in product_why(ctx).items()
    ]
    who = rows.select("cid", "scenario").unique("cid").join(customers, on="cid", how="left")
    by_customer = [
        who.filter(pl.col("scenario") == s).select("cid", scenario_why=expr)
        for s, expr in scenario_why(ctx, fallback).items()
    ]
    product_words, customer_words = pl.collect_all(
        [pl.concat(by_product).sort("row"), pl.concat(by_customer)]
    )
    words = (
        items.select("cid")
        .with_columns(why=product_words["why"])
        .join(customer_words, on="cid", how="left", maintain_order="left")
        .select(w=pl.struct("why", "scenario_why").struct.json_encode())
    )
    # '{"why":..,"scenario_why":..}' + the rest of reasons_json's object: one JSON object
    merged = pl.concat_str(pl.col("w").str.head(-1), pl.lit(","), pl.col("reasons_json").str.tail(-1))
    return items.with_columns(words["w"]).with_columns(reasons_json=merged).drop("w")


# -- a scenario nobody got -------------------------------------------------------------------------


def nobody(counts: dict, priority: list[str]) -> dict[str, str]:
    """Per scenario that got no customer in a run, why, in words, from what the run recorded
    (its counts_json: by_scenario, rhythm, validation, assignment, arbitration; ``priority``:
    the run's configured scenario order)."""
    by = counts.get("by_scenario") or {}
    validation = counts.get("validation") or {}
    guard = validation.get("assignment") or {}
    rhythm = counts.get("rhythm") or {}
    tally = counts.get("assignment") or {}
    arbitrated = counts.get("arbitration") or {}
    by_value = arbitrated.get("method") == "expected_value"
    calibrations = arbitrated.get("calibration") or {}
    out: dict[str, str] = {}
    for scenario, n in by.items():
        if n:
            continue
        t = tally.get(scenario) or {}
        choice = guard.get("choice")
        if scenario not in priority and scenario != "NURTURE":
            out[scenario] = "turned off: not in the configuration's priority"
        elif scenario in (guard.get("off") or []):
            lost = (guard.get("without_losing") or {}).get("off", {}).get(scenario) or {}
            out[scenario] = (
                "left out by the assignment guard: on the validation window its "
                f"{lost.get('n', 0):,} customers bought from its lists at {lost.get('hit', 0):.0%}"
                f" and would have from REPEAT's at {lost.get('repeat', 0):.0%}"
            )
        elif choice in GUARD_GIST:
            name = "REPEAT" if choice == "repeat" else "POP"
            because = guard.get("why") or "the assignment was not trusted"
            out[scenario] = f"the assignment guard gave everyone {name}: {because}"
        elif counts.get("eligible") == 0:
            out[scenario] = "no eligible customer"
        elif scenario not in priority:  # NURTURE outside the priority: for whom no scenario fits
            out[scenario] = "it only takes customers no scenario of the priority fits, and there were none"
        elif not t:
            out[scenario] = "not recorded by this run (scored before reasons in words)"
        elif t.get("fits", 0) == 0:
            out[scenario] = _fits_nobody(scenario, rhythm)
        elif by_value and t.get("with_candidates", 0) > 0:
            out[scenario] = (
                f"each of the {t['with_candidates']:,} customers it had a list for had a higher"
                " expected value in another scenario"
            )
        elif by_value and not any(k.startswith(f"{scenario} (") for k in calibrations):
            out[scenario] = "its lists could not be calibrated on the validation window"
        elif t.get("offered", 0) == 0:
            earlier = [s for s in priority[: priority.index(scenario)]] if scenario in priority else []
            out[scenario] = (
                f"the {t['fits']:,} customers it fits were all given "
                + (", ".join(earlier) if earlier else "another scenario")
                + ", earlier in the priority"
            )
        else:
            out[scenario] = _no_candidates(scenario, t["offered"])
    return out


def _fits_nobody(scenario: str, rhythm: dict) -> str:
    if scenario == "WINBACK":
        history, cap = rhythm.get("history_days"), rhythm.get("lapsed_cap_days")
        text_ = "nobody lapsed: no eligible customer's last order is older than their lapsed threshold"
        if history is not None and cap is not None:
            text_ += f" (at most {cap} days, with a history of {history} days)"
        return text_
    return {
        "UPSELL": "nobody has a usual premium tier: the products they bought have no tier",
        "NURTURE": "no eligible customer is new (few enough orders)",
    }.get(scenario, "no eligible customer has bought anything")


def _no_candidates(scenario: str, offered: int) -> str:
    who = f"its {offered:,} customers"
    return {
        "UPSELL": f"no product is a higher tier than what {who} usually buy, within their budget",
        "CROSS_SELL": f"nothing is bought together with what {who} bought, by enough customers",
        "REBUY": f"none of {who} is likely enough to buy their products again",
        "WINBACK": f"no product to offer {who}",
        "NURTURE": f"no product to offer {who}",
    }[scenario]
