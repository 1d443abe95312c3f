"""The pure part of a backtest: purchase events and recommendations in, metrics out.

Nothing here reads or writes the database: :func:`evaluate_cutoff` splits the events at a
cutoff (reco.backtest.protocol), evaluates the platform's recommendations and every baseline on
the same customers (reco.backtest.metrics), and :func:`score_lists` scores each scenario's own
list on inputs already read. The database side is reco.backtest.storage; the walk forward over
cutoffs, reco.backtest.run.
"""

from __future__ import annotations

import time
from collections.abc import Sequence
from dataclasses import dataclass, field, replace
from datetime import date

import polars as pl

from reco.backtest import baselines, metrics, tradeoff
from reco.backtest.protocol import Split, split
from reco.backtest.reliability import reliability
from reco.scoring import score
from reco.vocab import SCENARIOS

PLATFORM = "PLATFORM"
#: scope of eligible customers the platform gave no recommendation to
UNSCORED = "UNSCORED"
#: scope prefix of a scenario's own list, scored for every customer the scenario applies to
LIST_SCOPE = "list:"
#: the task of each scenario: the metric it is judged on and the baseline that fits it
#: (ANCHORS.md): re-purchase hit-rate for REBUY, discovery for CROSS_SELL and UPSELL, lapsed
#: customers' hit-rate against popularity for WINBACK, and for NURTURE (new customers). A
#: tuple of baselines means the best of them at that cutoff: REBUY is held to REPEAT and to
#: TIFU-KNN, the state of the art of repeat purchase.
TASKS = {
    "REBUY": ("hit", ("REPEAT", "TIFU-KNN")),
    "CROSS_SELL": ("new_item_hit", "SAR"),
    "UPSELL": ("new_item_hit", "SAR"),
    "WINBACK": ("hit", "POP"),
    "NURTURE": ("hit", "POP"),
}


@dataclass
class CutoffResult:
    cutoff: date
    horizon_days: int
    n_history: int
    n_eligible: int
    n_scored: int
    n_population: int
    catalogue_size: int
    seconds: dict[str, float]
    table: pl.DataFrame
    #: the platform's recommendations that were evaluated (not serialised)
    platform_recs: pl.DataFrame | None = None
    #: platform recommendations of products nobody bought before the cutoff
    n_platform_outside_catalogue: int = 0
    #: per scenario list, predicted P against observed rate by decile (reco.backtest.reliability)
    reliability: pl.DataFrame | None = None
    #: the trade-off curve between hit@3 and new-item hit@3 (reco.backtest.tradeoff.curve)
    tradeoff: pl.DataFrame | None = None
    #: TIFU-KNN's tuning (reco.backtest.tifuknn.Tuned): its setting and what it was chosen on
    tifu_knn: object | None = None

    def as_dict(self) -> dict:
        return {
            "cutoff": self.cutoff.isoformat(),
            "horizon_days": self.horizon_days,
            "n_customers_with_history": self.n_history,
            "n_eligible": self.n_eligible,
            "n_scored": self.n_scored,
            "n_evaluated": self.n_population,
            "catalogue_size": self.catalogue_size,
            "n_platform_recs_outside_catalogue": self.n_platform_outside_catalogue,
            "seconds": {k: round(v, 3) for k, v in self.seconds.items()},
            "results": self.table.to_dicts(),
            **({"reliability": self.reliability.to_dicts()} if self.reliability is not None else {}),
            **({"tradeoff": self.tradeoff.to_dicts()} if self.tradeoff is not None else {}),
            **({"tifu_knn_tuning": self.tifu_knn.as_dict()} if self.tifu_knn is not None else {}),
        }


@dataclass
class BacktestReport:
    backtest_id: str
    horizon_days: int
    with_contact_rules: bool
    cutoffs: list[CutoffResult] = field(default_factory=list)
    seconds: float = 0.0
    #: where the window's purchases came from: live | rebuild
    truth: str = "rebuild"

    def as_dict(self) -> dict:
        return {
            "backtest_id": self.backtest_id,
            "horizon_days": self.horizon_days,
            "with_contact_rules": self.with_contact_rules,
            "truth": self.truth,
            "seconds": round(self.seconds, 3),
            "cutoffs": [c.as_dict() for c in self.cutoffs],
        }

    def results(self) -> pl.DataFrame:
        """Every cutoff's table, with its cutoff, stacked."""
        return pl.concat(
            [c.table.with_columns(cutoff=pl.lit(c.cutoff)) for c in self.cutoffs], how="vertical"
        )


def _as_platform(recs: pl.DataFrame) -> pl.DataFrame:
    """Recommendations (customer_code, rank, product_key) as the PLATFORM method's rows."""
    return recs.select(
        method=pl.lit(PLATFORM),
        customer_code=pl.col("customer_code").cast(pl.String),
        rank=pl.col("rank").cast(pl.Int32),
        product_key=pl.col("product_key").cast(pl.String),
    )


def evaluate_cutoff(
    events: pl.LazyFrame,
    cutoff: date,
    horizon_days: int,
    platform: pl.DataFrame | None,
    *,
    restrict_to_scored: bool = False,
    n_resamples: int = 1000,
    seed: int = 0,
    scenario_lists: dict[str, pl.DataFrame] | None = None,
    tradeoff_points: dict | None = None,
    default_prior_rebuy: float | None = None,
) -> CutoffResult:
    """Evaluate ``platform`` recommendations (customer_code, scenario, rank, product_key) and
    every baseline on the eligible customers of ``events`` split at ``cutoff``.

    The population is every eligible customer; each is in the scope of the scenario the
    platform gave them (``UNSCORED`` if none, where the platform scores zero). With
    ``restrict_to_scored`` (contact rules on), customers the platform withheld are left out
    of every method instead.

    ``scenario_lists`` (scenario -> customer_code, rank, product_key): each scenario's own
    list for every customer it applies to, evaluated on the eligible customers it covers,
    with the baselines on the same customers, in the scopes ``list:<SCENARIO>``.

    ``tradeoff_points`` (reco.backtest.tradeoff.score_points, scored with
    ``default_prior_rebuy`` among them): the trade-off curve, on the same population."""
    timings: dict[str, float] = {}
    t0 = time.perf_counter()
    s: Split = split(events, cutoff, horizon_days)
    eligible = s.eligible.collect()
    catalogue_size = s.catalogue.collect().height
    n_history = s.train.select("customer_code").unique().collect().height
    scenario = (
        platform.group_by("customer_code").agg(scope=pl.col("scenario").first())
        if platform is not None
        else pl.DataFrame(schema={"customer_code": pl.String, "scope": pl.String})
    )
    population = eligible.join(scenario, on="customer_code", how="left").with_columns(
        pl.col("scope").fill_null(UNSCORED if platform is not None else metrics.OVERALL)
    )
    if restrict_to_scored:
        population = population.filter(pl.col("scope") != UNSCORED)
    timings["split"] = time.perf_counter() - t0

    t0 = time.perf_counter()
    base_customers = eligible if scenario_lists else population.select("customer_code")
    notes: dict = {}
    recs = baselines.all_baselines(s, base_customers.lazy().select("customer_code"), notes=notes)
    timings["baselines"] = time.perf_counter() - t0
    outside = 0
    if platform is not None:
        # evaluated as given; a product never sold before the cutoff (a catalogue product the
        # scorer knows from the undated product export) is counted, not removed
        outside = platform.join(s.catalogue.collect(), on="product_key", how="anti").height
        recs = pl.concat(
            [
                _as_platform(platform),
                recs,
            ]
        )
    t0 = time.perf_counter()
    table = metrics.evaluate(
        recs.lazy(),
        population.lazy(),
        s.test,
        s.history,
        catalogue_size,
        n_resamples=n_resamples,
        seed=seed,
        paired_with=PLATFORM,
    )
    for scenario, items in (scenario_lists or {}).items():
        covered = eligible.join(items.select("customer_code").unique(), on="customer_code", how="semi")
        listed = metrics.evaluate(
            pl.concat([_as_platform(items), recs.filter(pl.col("method") != PLATFORM)]).lazy(),
            covered.lazy().with_columns(scope=pl.lit(metrics.OVERALL)),
            s.test,
            s.history,
            catalogue_size,
            n_resamples=n_resamples,
            seed=seed,
            paired_with=PLATFORM,
        )
        table = pl.concat([table, listed.with_columns(scope=pl.lit(LIST_SCOPE + scenario))])
    curve = None
    if tradeoff_points:
        curve = tradeoff.curve(
            tradeoff_points,
            table,
            population,
            s.test,
            s.history,
            catalogue_size,
            default_prior_rebuy,
            n_resamples=n_resamples,
            seed=seed,
        )
    timings["metrics"] = time.perf_counter() - t0
    return CutoffResult(
        cutoff=cutoff,
        horizon_days=horizon_days,
        n_history=n_history,
        n_eligible=eligible.height,
        n_scored=0 if platform is None else platform["customer_code"].n_unique(),
        n_population=population.height,
        catalogue_size=catalogue_size,
        seconds=timings,
        table=table,
        platform_recs=platform,
        n_platform_outside_catalogue=outside,
        reliability=reliability(scenario_lists, s.test) if scenario_lists else None,
        tradeoff=curve,
        tifu_knn=notes.get("TIFU-KNN"),
    )


def score_lists(inputs, config, scenarios: Sequence[str] | None = None) -> dict[str, pl.DataFrame]:
    """Each scenario's own list (customer_code, rank, product_key) for every customer with
    history it applies to, as if it were the only scenario (REBUY with no probability floor):
    the comparisons of ANCHORS.md, scenario by scenario. NURTURE's list covers the customers
    it fits (at most ``nurture.max_orders`` orders), not those it would catch as the fallback.
    The assignment guard's fallback is off in these runs: the list is the scenario's own (in
    the mode self-validation chose), not REPEAT for everyone. The scorings share their global
    tables (neighbours, repeat rates, co-occurrence scores): the first computes them, the others
    reuse them."""
    lists = {}
    shared: dict = {}
    for scenario in scenarios or SCENARIOS:
        # the guard's fallback off: a single-scenario run that loses to REPEAT on the window
        # would otherwise be REPEAT for everyone, and the scenario's list empty
        forced = replace(
            config,
            priority=(scenario,),
            rebuy=replace(config.rebuy, min_hit_probability=0.0),
            validation=replace(config.validation, guard=False),
        )
        result = score(inputs, forced, apply_contact_rules=False, shared=shared)
        caught = result.audits.filter(kind="fallback", reason_code="no_scenario_fits")
        lists[scenario] = (
            result.items.filter(scenario=scenario)
            .join(caught.select("customer_code"), on="customer_code", how="anti")
            .select(
                "customer_code",
                "rank",
                "product_key",
                # the list's calibrated P(purchase) (reco.scoring.arbitration), for reliability
                p=pl.col("reasons_json").str.json_path_match("$.expected_value.p").cast(pl.Float64),
            )
        )
    return lists
