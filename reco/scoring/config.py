"""Scoring configuration: a TOML file with documented defaults (see docs/scoring.md).

Every key is optional; a missing file section keeps its defaults. An unknown section or key, or a
value of the wrong type or out of range, is one clear error naming the file, the key and what was
expected.
"""

from __future__ import annotations

import dataclasses
import tomllib
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from reco.errors import RecoError
from reco.vocab import SCENARIOS

#: the features of REBUY's model (reco.scoring.rebuy_model), each with a w_<feature> weight
REBUY_FEATURES = ("frequency", "orders", "recency", "due", "staple", "popularity", "activity")


@dataclass(frozen=True)
class Eligibility:
    #: Suppress anyone contacted in the last N days (0 disables the silence window).
    silence_days: int = 14
    #: At most this many contacts per ``contact_cap_days`` (0 disables the cap).
    contact_cap: int = 0
    contact_cap_days: int = 30


@dataclass(frozen=True)
class Rules:
    #: Products recommended per customer (ranks 1..top_n).
    top_n: int = 3
    #: At most this many products of one family in a customer's list (0 disables; products
    #: without a family are never capped).
    max_per_family: int = 2
    #: Products bought in the last N days are not recommended again (except by REBUY).
    recent_purchase_days: int = 60
    #: Popularity = distinct buyers over the last N days.
    popularity_days: int = 90
    #: Popular products offered per preference group (overall, top family 1, top family 2).
    popular_pool_size: int = 6
    #: A scenario takes a customer when it has at least this many candidates.
    min_candidates: int = 1


@dataclass(frozen=True)
class Rhythm:
    """The campaign horizon and the thresholds that follow the purchase cycle
    (reco.scoring.rhythm; formulas in docs/scoring.md)."""

    #: The campaign horizon: REBUY's calibration window and recency scale, the
    #: self-validation window, and the window ``reco backtest --horizon-days`` evaluates.
    horizon_days: int = 90
    #: Lapsed = no purchase for more than this many of the customer's cycles (their median
    #: days between orders, or the retailer's when they have too few orders).
    lapsed_cycles: float = 3.0
    #: Bounds of the lapsed threshold in days (the upper one also at most half the history).
    lapsed_min_days: int = 14
    lapsed_max_days: int = 365
    #: A customer's own cycle is used once they have this many gaps between order days.
    min_gaps: int = 3
    #: A calibration or validation window shorter than this is not used (too little history).
    min_window_days: int = 7


@dataclass(frozen=True)
class Validation:
    """Self-validation before every run (reco.scoring.validation, docs/scoring.md)."""

    #: Compare each scenario's learnt list with its simple baseline on the window before as_of.
    enabled: bool = True
    #: Customers sampled at most (every k-th code with history): their history is the
    #: validation's data, so its cost does not grow with the customer base.
    max_customers: int = 20_000
    #: Below this many customers judged, a scenario uses its baseline (too few to tell).
    min_customers: int = 200
    #: One-sided confidence that the learnt list is better before it is used.
    confidence: float = 0.9
    #: Apply the assignment guard's fallback (REPEAT or POP for everyone, or the priority
    #: list) when the assignment loses on the window. Off, its verdict is still recorded but
    #: the assignment is used: what ``reco backtest --tradeoff`` measures.
    guard: bool = True


@dataclass(frozen=True)
class Winback:
    w_own: float = 0.5
    w_popularity: float = 0.3
    w_preference: float = 0.2


@dataclass(frozen=True)
class Rebuy:
    """REBUY ranks a customer's own products by the chance that they buy each again within
    the calibration window (``rhythm.horizon_days``, bounded by the history): a logistic
    model of the features in ``reco.scoring.rebuy_model``, whose weights are learnt from the
    customer base's own past (``calibrate``) or, when that is off or impossible, the ``w_*``
    below."""

    #: REBUY takes a customer when their three best own products give at least this chance
    #: of a re-purchase within the calibration window (0: anyone with history).
    min_hit_probability: float = 0.05
    #: Learn the weights from the history: features as of as_of minus the calibration window,
    #: outcome = bought again in the window up to as_of (nothing on or after as_of is read).
    calibrate: bool = True
    #: Customers sampled (every k-th code) to learn the weights from.
    calibration_customers: int = 100_000
    #: A favourite is a product bought in at least this many distinct orders ("due" feature).
    min_orders: int = 2
    #: Half-life of each past order in the frequency feature.
    half_life_days: float = 365.0
    #: Pseudo-buyers shrinking a product's repeat rate towards the catalogue-wide rate.
    repeat_prior: float = 10.0
    #: Family cap of REBUY lists (their products are the customer's own; 0 = no cap).
    max_per_family: int = 0
    #: Weights used when the model is not calibrated (log-odds per unit of each feature).
    w_baseline: float = -6.0
    w_frequency: float = 1.5
    w_orders: float = 1.0
    w_recency: float = 0.5
    w_due: float = 0.5
    w_staple: float = 2.0
    w_popularity: float = 1.0
    w_activity: float = 1.0


@dataclass(frozen=True)
class Upsell:
    #: Candidate price may exceed the customer's average line price by this fraction.
    budget_stretch: float = 0.5
    #: Candidate premium tier must exceed the customer's usual tier by at least this.
    min_tier_step: int = 1
    w_family: float = 0.4
    w_grape: float = 0.2
    w_popularity: float = 0.2
    w_cooccurrence: float = 0.2


@dataclass(frozen=True)
class CrossSell:
    #: Half-life of a purchase's weight in the co-occurrence counts.
    half_life_days: float = 180.0
    #: Pairs bought together by fewer distinct customers than this are ignored.
    min_cooccurrence: int = 2
    #: Most recent products per customer used to count co-occurrences.
    max_items_per_customer: int = 100
    #: Most recent products per customer used as seeds for recommendations.
    seed_items: int = 50
    #: Neighbours kept per product.
    neighbours_per_item: int = 20
    #: Products with fewer buyers get aroma/attribute neighbours.
    attribute_min_buyers: int = 5
    #: Similarity of an attribute neighbour is scaled by this.
    attribute_weight: float = 0.5
    w_cooccurrence: float = 0.8
    w_popularity: float = 0.2


@dataclass(frozen=True)
class Nurture:
    #: New and one-time customers: at most this many orders.
    max_orders: int = 1
    w_popularity: float = 0.4
    w_season: float = 0.2
    w_profile: float = 0.2
    w_cooccurrence: float = 0.2


@dataclass(frozen=True)
class Quality:
    #: Flag profiles whose aroma confidence is below this.
    low_aroma_confidence: float = 0.3
    #: Flag a profile computed more than N days before as_of.
    stale_profile_days: int = 1


@dataclass(frozen=True)
class Campaign:
    #: Share of each scenario's scored customers held out as the control group (kept out of
    #: the export; their items are still written). 0 disables the control group.
    control_share: float = 0.10


#: How each customer's scenario is chosen (``[arbitration] method``).
METHODS = ("expected_value", "priority")


@dataclass(frozen=True)
class Arbitration:
    """Arbitration by expected value (reco.scoring.arbitration, docs/scoring.md): each customer
    gets the scenario whose list has the highest P(purchase) × incrementality × value."""

    #: "expected_value", or "priority": the first scenario of ``priority`` that fits.
    method: str = "expected_value"
    #: Incrementality priors: the share of a list's purchases the campaign causes, used until
    #: measured runs' control groups say otherwise. Assumptions, not measurements: repeat
    #: purchases mostly happen anyway (REBUY lowest); lapsed customers and products the
    #: customer never bought are less likely to be bought without the campaign.
    prior_rebuy: float = 0.10
    prior_nurture: float = 0.20
    prior_winback: float = 0.30
    prior_upsell: float = 0.30
    prior_cross_sell: float = 0.30
    #: Pseudo-customers of the prior: the measured value weighs n / (n + prior_n), n = the
    #: smaller of the treated and control groups.
    prior_n: float = 200.0
    #: Bounds of the incrementality used.
    incrementality_min: float = 0.01
    incrementality_max: float = 1.0
    #: Calibration of P on the validation window: bins (by quantile of the raw list score) and
    #: pseudo-customers shrinking each bin to the scenario's overall rate.
    calibration_bins: int = 10
    calibration_prior_n: float = 20.0
    #: Marketer constraints, honoured at the least loss of expected value: scenarios turned
    #: off, and a minimum / maximum share of the customers per scenario.
    off: tuple[str, ...] = ()
    min_share_rebuy: float = 0.0
    min_share_winback: float = 0.0
    min_share_nurture: float = 0.0
    min_share_upsell: float = 0.0
    min_share_cross_sell: float = 0.0
    max_share_rebuy: float = 1.0
    max_share_winback: float = 1.0
    max_share_nurture: float = 1.0
    max_share_upsell: float = 1.0
    max_share_cross_sell: float = 1.0


@dataclass(frozen=True)
class ScoringConfig:
    #: The scenarios in play. With ``[arbitration] method = "priority"`` a customer gets the
    #: first scenario (in this order) that fits them; with "expected_value" (the default) the
    #: order does not matter. A scenario left out is disabled; NURTURE always catches
    #: customers no scenario fits.
    priority: tuple[str, ...] = SCENARIOS
    arbitration: Arbitration = field(default_factory=Arbitration)
    rhythm: Rhythm = field(default_factory=Rhythm)
    validation: Validation = field(default_factory=Validation)
    eligibility: Eligibility = field(default_factory=Eligibility)
    rules: Rules = field(default_factory=Rules)
    winback: Winback = field(default_factory=Winback)
    rebuy: Rebuy = field(default_factory=Rebuy)
    upsell: Upsell = field(default_factory=Upsell)
    cross_sell: CrossSell = field(default_factory=CrossSell)
    nurture: Nurture = field(default_factory=Nurture)
    quality: Quality = field(default_factory=Quality)
    campaign: Campaign = field(default_factory=Campaign)

    def to_dict(self) -> dict[str, Any]:
        out = dataclasses.asdict(self)
        out["priority"] = list(self.priority)
        out["arbitration"]["off"] = list(self.arbitration.off)
        return out


#: Value constraints beyond the type: (predicate, expectation).
_POSITIVE = (lambda v: v > 0, "a number > 0")
_NON_NEGATIVE = (lambda v: v >= 0, "a number >= 0")
_AT_LEAST_ONE = (lambda v: v >= 1, "an integer >= 1")
_SHARE = (lambda v: 0 <= v <= 1, "a share from 0 to 1")
_CHECKS: dict[str, tuple] = {
    "arbitration.method": (lambda v: v in METHODS, " or ".join(f'"{m}"' for m in METHODS)),
    **{f"arbitration.prior_{s.lower()}": (lambda v: 0 <= v <= 1, "a number from 0 to 1") for s in SCENARIOS},
    **{f"arbitration.{b}_share_{s.lower()}": _SHARE for s in SCENARIOS for b in ("min", "max")},
    "arbitration.incrementality_min": (lambda v: 0 <= v <= 1, "a number from 0 to 1"),
    "arbitration.incrementality_max": (lambda v: 0 < v <= 1, "a number above 0, at most 1"),
    "arbitration.calibration_bins": (lambda v: 1 <= v <= 100, "an integer from 1 to 100"),
    "rules.top_n": (lambda v: 1 <= v <= 3, "an integer from 1 to 3"),
    "rules.popular_pool_size": _AT_LEAST_ONE,
    "rules.popularity_days": _AT_LEAST_ONE,
    "rules.min_candidates": _AT_LEAST_ONE,
    "eligibility.contact_cap_days": _AT_LEAST_ONE,
    "rebuy.min_orders": (lambda v: v >= 2, "an integer >= 2"),
    "rebuy.min_hit_probability": (lambda v: 0 <= v <= 1, "a number from 0 to 1"),
    "rebuy.calibration_customers": (lambda v: v >= 100, "an integer >= 100"),
    # log-odds: the intercept and the weights may be negative (a calibrated model's can be)
    **{f"rebuy.w_{f}": (lambda v: True, "a number") for f in ("baseline", *REBUY_FEATURES)},
    "rebuy.half_life_days": _POSITIVE,
    "cross_sell.half_life_days": _POSITIVE,
    "cross_sell.min_cooccurrence": _AT_LEAST_ONE,
    "cross_sell.max_items_per_customer": (lambda v: v >= 2, "an integer >= 2"),
    "cross_sell.seed_items": _AT_LEAST_ONE,
    "cross_sell.neighbours_per_item": _AT_LEAST_ONE,
    "upsell.min_tier_step": _AT_LEAST_ONE,
    "validation.max_customers": (lambda v: v >= 100, "an integer >= 100"),
    "validation.min_customers": _AT_LEAST_ONE,
    "validation.confidence": (lambda v: 0.5 <= v < 1, "a number from 0.5 to below 1"),
    "rhythm.horizon_days": _AT_LEAST_ONE,
    "rhythm.lapsed_cycles": _POSITIVE,
    "rhythm.lapsed_min_days": _AT_LEAST_ONE,
    "rhythm.lapsed_max_days": _AT_LEAST_ONE,
    "rhythm.min_gaps": _AT_LEAST_ONE,
    "rhythm.min_window_days": _AT_LEAST_ONE,
    "quality.low_aroma_confidence": (lambda v: 0 <= v <= 1, "a number from 0 to 1"),
    "campaign.control_share": (lambda v: 0 <= v < 1, "a number from 0 (no control group) to below 1"),
}


def _check_value(where: str, key: str, value: Any, default: Any) -> Any:
    if isinstance(default, tuple):  # a list of scenario names
        return _priority("", value, where)
    if isinstance(default, str):
        if not isinstance(value, str):
            raise RecoError(f"{where}: expected a string, got {value!r}")
    elif isinstance(default, bool):
        if not isinstance(value, bool):
            raise RecoError(f"{where}: expected true or false, got {value!r}")
        return value
    if isinstance(default, int):
        if isinstance(value, bool) or not isinstance(value, int):
            raise RecoError(f"{where}: expected an integer, got {value!r}")
    elif isinstance(default, float):
        if isinstance(value, bool) or not isinstance(value, int | float):
            raise RecoError(f"{where}: expected a number, got {value!r}")
        value = float(value)
    check, expected = _CHECKS.get(key, _NON_NEGATIVE)
    if not check(value):
        raise RecoError(f"{where}: expected {expected}, got {value!r}")
    return value


#: Settings replaced by the purchase rhythm: what to write instead.
_REPLACED = {
    "rebuy.calibration_days": "[rhythm] horizon_days (the calibration window follows it)",
    "winback.lapsed_days": "[rhythm] lapsed_cycles, lapsed_min_days and lapsed_max_days "
    "(lapsed follows the purchase cycle)",
}


def _section(source: str, name: str, cls: type, raw: Any) -> Any:
    if not isinstance(raw, dict):
        raise RecoError(f"{source}: [{name}] must be a table of settings, got {raw!r}")
    defaults = {f.name: f.default for f in dataclasses.fields(cls)}
    values = {}
    for key, value in raw.items():
        if f"{name}.{key}" in _REPLACED:
            raise RecoError(
                f"{source}: [{name}] {key} is no longer a setting; use {_REPLACED[f'{name}.{key}']}"
            )
        if key not in defaults:
            known = ", ".join(defaults)
            raise RecoError(f"{source}: unknown setting [{name}] {key} (known: {known})")
        where = f"{source}: [{name}] {key} = {value!r}"
        values[key] = _check_value(where, f"{name}.{key}", value, defaults[key])
    return cls(**values)


def _priority(source: str, raw: Any, where: str | None = None) -> tuple[str, ...]:
    where = where or f"{source}: priority = {raw!r}"
    if not isinstance(raw, list) or not all(isinstance(s, str) for s in raw):
        raise RecoError(f"{where}: expected a list of scenario names from {', '.join(SCENARIOS)}")
    names = tuple(s.strip().upper() for s in raw)
    unknown = [s for s in names if s not in SCENARIOS]
    if unknown:
        raise RecoError(f"{where}: unknown scenario {unknown[0]!r}; expected {', '.join(SCENARIOS)}")
    if len(set(names)) != len(names):
        raise RecoError(f"{where}: a scenario is listed twice")
    return names


def config_from_dict(raw: dict[str, Any], source: str = "configuration") -> ScoringConfig:
    """Build a validated configuration from parsed TOML (or any mapping)."""
    sections = {f.name: f.type for f in dataclasses.fields(ScoringConfig) if f.name != "priority"}
    classes = {f.name: f.default_factory for f in dataclasses.fields(ScoringConfig) if f.name != "priority"}
    kwargs: dict[str, Any] = {}
    for key, value in raw.items():
        if key == "priority":
            kwargs["priority"] = _priority(source, value)
        elif key in sections:
            kwargs[key] = _section(source, key, classes[key], value)
        else:
            known = ", ".join(["priority", *sections])
            raise RecoError(f"{source}: unknown section or setting {key!r} (known: {known})")
    config = ScoringConfig(**kwargs)
    a = config.arbitration
    for s in SCENARIOS:
        lo, hi = getattr(a, f"min_share_{s.lower()}"), getattr(a, f"max_share_{s.lower()}")
        if lo > hi:
            raise RecoError(
                f"{source}: [arbitration] min_share_{s.lower()} ({lo}) must not exceed "
                f"max_share_{s.lower()} ({hi})"
            )
    if sum(getattr(a, f"min_share_{s.lower()}") for s in SCENARIOS) > 1:
        raise RecoError(f"{source}: [arbitration] the min_share_* add up to more than 1")
    if a.incrementality_min > a.incrementality_max:
        raise RecoError(f"{source}: [arbitration] incrementality_min must not exceed incrementality_max")
    r = config.rhythm
    if r.lapsed_min_days > r.lapsed_max_days:
        raise RecoError(
            f"{source}: [rhythm] lapsed_min_days ({r.lapsed_min_days}) must not exceed "
            f"lapsed_max_days ({r.lapsed_max_days})"
        )
    return config


def load_config(path: Path | None) -> ScoringConfig:
    """The defaults, overridden by the TOML file at ``path`` when given."""
    if path is None:
        return ScoringConfig()
    path = Path(path)
    if not path.is_file():
        raise RecoError(f"configuration file not found: {path}")
    try:
        raw = tomllib.loads(path.read_text(encoding="utf-8"))
    except tomllib.TOMLDecodeError as exc:
        raise RecoError(f"{path}: not valid TOML: {exc}") from None
    except UnicodeDecodeError:
        raise RecoError(f"{path}: not valid UTF-8 text") from None
    return config_from_dict(raw, str(path))
