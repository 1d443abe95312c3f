"""Rounds of campaigns with a known lift per scenario, arbitrated by expected value with the
incrementality learnt from the previous rounds' control groups (bench/learning.py and
tests/scoring/test_learning.py).

The response follows the campaign simulator's rule (reco/demo_data/campaign.py): a customer
buys from their list without the campaign with probability ``p``; contacted, with a lift
``L > 0`` a customer who would not have bought does with probability ``L``, with ``L < 0`` one
who would have bought does not with probability ``-L``. So the true incremental purchase
chance of scenario s is ``L_s (1 - p)`` (``L_s p`` when negative), and its true incremental
value that times the list's value. The platform sees none of this: it arbitrates on
``p × incrementality × value`` (reco.scoring.arbitration), with the incrementality at its
priors first, then at the posterior of every past round's treated and control groups
(``arbitration.incrementality``). The oracle knows the lifts and picks each customer's
scenario of highest true incremental value; the regret is what the platform's choice gives
up against it.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import polars as pl

from reco.demo_data.campaign import DEFAULT_LIFTS
from reco.scoring import arbitration
from reco.scoring.config import ScoringConfig
from reco.vocab import SCENARIOS

#: the campaign simulator's default lifts: WINBACK changes nothing and NURTURE backfires,
#: where the priors expect 0.30 and 0.20 of their purchases to be the campaign's
TRUE_LIFTS = DEFAULT_LIFTS


@dataclass(frozen=True)
class Round:
    number: int
    shares: dict[str, float]
    true_value: float
    #: the same arbitration, knowing each scenario's true incrementality
    known_value: float
    #: each customer's scenario of highest true incremental value
    oracle_value: float
    incrementality: dict[str, float]

    @property
    def regret(self) -> float:
        """Share of the true incremental value that knowing the lifts would give (the same
        formula, the true incrementality per scenario) which this round gave up."""
        return 1.0 - self.true_value / self.known_value if self.known_value else 0.0

    @property
    def regret_oracle(self) -> float:
        """Share of the per-customer oracle's true incremental value given up."""
        return 1.0 - self.true_value / self.oracle_value if self.oracle_value else 0.0


def population(n: int, seed: int) -> pl.DataFrame:
    """One row per customer and scenario whose list they have: ``cid, scenario, p, value``.
    Everyone has a REBUY and a NURTURE list; CROSS_SELL, UPSELL and WINBACK lists for some.
    REBUY lists are bought most often (p about 0.3), new products rarely (about 0.04) but are
    worth more."""
    rng = np.random.default_rng(seed)
    has = {
        "REBUY": np.ones(n, bool),
        "CROSS_SELL": rng.random(n) < 0.7,
        "UPSELL": rng.random(n) < 0.4,
        "WINBACK": rng.random(n) < 0.2,
        "NURTURE": np.ones(n, bool),
    }
    p_mean = {"REBUY": 0.30, "CROSS_SELL": 0.04, "UPSELL": 0.03, "WINBACK": 0.05, "NURTURE": 0.02}
    value = {"REBUY": 20.0, "CROSS_SELL": 30.0, "UPSELL": 45.0, "WINBACK": 25.0, "NURTURE": 20.0}
    frames = []
    for s in SCENARIOS:
        cid = np.flatnonzero(has[s])
        p = np.clip(rng.beta(2.0, 2.0 / p_mean[s] - 2.0, len(cid)), 0.001, 0.95)
        v = value[s] * rng.lognormal(0.0, 0.3, len(cid))
        frames.append(pl.DataFrame({"cid": cid.astype(np.uint32), "scenario": s, "p": p, "value": v}))
    return pl.concat(frames)


def _true_gain(lifts: dict[str, float]) -> pl.Expr:
    lift = pl.col("scenario").replace_strict(lifts, return_dtype=pl.Float64)
    chance = pl.when(lift >= 0).then(lift * (1 - pl.col("p"))).otherwise(lift * pl.col("p"))
    return chance * pl.col("value")


def simulate(
    n: int = 20_000,
    rounds: int = 5,
    *,
    lifts: dict[str, float] = TRUE_LIFTS,
    control_share: float = 0.10,
    seed: int = 1,
    config: ScoringConfig | None = None,
    learn: bool = True,
) -> list[Round]:
    """Run ``rounds`` campaigns on the same customers and return what each round chose;
    ``learn=False`` scores every round at the priors (the measured rounds are not read)."""
    config = config or ScoringConfig()
    rng = np.random.default_rng(seed + 1)
    options = population(n, seed).with_columns(true=_true_gain(lifts))
    oracle = options.sort(["cid", "true"], descending=[False, True]).unique("cid", keep="first")["true"].sum()
    # the true incrementality of each scenario: its incremental purchases over all purchases
    # from its lists when everyone with one is contacted
    truth = (
        options.with_columns(
            gain=_true_gain(lifts) / pl.col("value"),
        )
        .group_by("scenario")
        .agg(incr=pl.col("gain").sum() / (pl.col("p") + pl.col("gain")).sum())
    )
    lo, hi = config.arbitration.incrementality_min, config.arbitration.incrementality_max
    known = {s: min(max(v, lo), hi) for s, v in truth.iter_rows()}

    def choose(incr: dict[str, float]) -> pl.DataFrame:
        ev = options.with_columns(
            ev=pl.col("p")
            * pl.col("scenario").replace_strict(incr, return_dtype=pl.Float64)
            * pl.col("value")
        )
        chosen, _ = arbitration.arbitrate(ev.select("cid", "scenario", "ev"), config)
        return chosen.select("cid", "scenario").join(options, on=["cid", "scenario"])

    known_value = float(choose(known)["true"].sum())
    measured: list[pl.DataFrame] = []
    out = []
    for r in range(1, rounds + 1):
        table = arbitration.incrementality(config, pl.concat(measured) if measured and learn else None)
        incr = {
            s: table.filter(pl.col("scenario") == s, pl.col("segment").is_null())["incrementality"].item()
            for s in SCENARIOS
        }
        got = choose(incr)
        # the campaign: a control group per scenario, then who buys from their list
        control = rng.random(got.height) < control_share
        p = got["p"].to_numpy()
        lift = got["scenario"].replace_strict(lifts, return_dtype=pl.Float64).to_numpy()
        would = rng.random(got.height) < p
        u = rng.random(got.height)
        bought = np.where(control, would, np.where(lift >= 0, would | (u < lift), would & (u >= -lift)))
        measured.append(
            got.select(
                "scenario",
                segment=pl.lit(None, pl.String),
                grp=pl.Series(np.where(control, "control", "treatment")),
                bought=pl.Series(bought),
            )
        )
        counts = got.group_by("scenario").len()
        out.append(
            Round(
                number=r,
                shares={s: c / got.height for s, c in counts.iter_rows()},
                true_value=float(got["true"].sum()),
                known_value=known_value,
                oracle_value=float(oracle),
                incrementality=incr,
            )
        )
    return out
