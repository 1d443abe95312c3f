"""``reco backtest`` end to end: rebuild the warehouse as of each cutoff into its own schemas,
score every customer with history, compare with what they bought next, evaluate the platform
and the baselines on the same customers, save the results.

Leakage: the marts the scorer reads are rebuilt by dbt with ``as_of_date = cutoff - 1 day``
(dbt keeps lines *on or before* as_of, so training is strictly before the cutoff), into
schemas prefixed ``<backtest_id>_`` that nothing else reads or writes. What customers bought
in the window (the ground truth, which the scorer never sees) is read from ``order_line``:

- ``truth="live"``: the live ``marts.order_line``, read only, when the live warehouse was
  built as of a date that covers the last window (or all the data there is);
- ``truth="rebuild"``: a second rebuild of ``+order_line`` as of the last window end, prefix
  ``<backtest_id>_truth_`` (about 25 s on Online Retail II);
- ``truth="auto"`` (default): live when it covers the window, else rebuild.

The backtest's own schemas are dropped at the end unless ``keep_schemas``, also when it fails
or is interrupted (SIGTERM, Ctrl-C: the run is then marked ``failed`` with the signal as its
error). A backtest holds a session advisory lock (``reco.db.locks.BACKTEST``) for its life; one
killed outright (kill -9, a crash) leaves its row ``running`` and its schemas behind, and the
next backtest finds it by its free lock, marks it failed and drops its schemas
(:func:`recover_abandoned`).
"""

from __future__ import annotations

import secrets
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field, replace
from datetime import UTC, date, datetime, timedelta
from pathlib import Path

import polars as pl
from sqlalchemy import insert, text, update

from reco.backtest import baselines, metrics
from reco.backtest.protocol import Split, split
from reco.db import locks, migrate
from reco.db.engine import connect
from reco.db.models.backtest import BacktestResult, BacktestRun
from reco.db.resolver import Database
from reco.dbt.runner import NodeDone, run_dbt
from reco.errors import Interrupted, RecoError

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
#: dbt arguments of a rebuild: models and seeds, data tests skipped for speed (the live
#: ``dbt build`` runs them on the same code); ``--full-dbt-build`` runs them too.
FAST_REBUILD = ["build", "--exclude-resource-type", "test", "--exclude-resource-type", "unit_test"]
FULL_REBUILD = ["build"]
#: what the scorer reads (reco.scoring.inputs) and what the truth needs
SCORER_MARTS = [
    "+customer",
    "+product",
    "+order_line",
    "+client_master_profile",
    "+contact_history",
]
TRUTH_MARTS = ["+order_line"]
TRUTH_CHOICES = ("auto", "live", "rebuild")

#: Scores the customers of a rebuilt warehouse: (db, schema_prefix, cutoff, config_path,
#: apply_contact_rules, horizon_days) -> customer_code, scenario, rank, product_key. History
#: is every purchase strictly before the cutoff.
Scorer = Callable[[Database, str, date, Path | None, bool, int], pl.DataFrame]


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


# -- the pure part: events in, metrics out ------------------------------------------------


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
) -> CutoffResult:
    """Evaluate ``platform`` recommendations (customer_code, scenario, rank, product_key) and
    every baseline on the eligible customers of ``events`` split at ``cutoff``.

    The population is every eligible customer; each is in the scope of the scenario the
    platform gave them (``UNSCORED`` if none, where the platform scores zero). With
    ``restrict_to_scored`` (contact rules on), customers the platform withheld are left out
    of every method instead.

    ``scenario_lists`` (scenario -> customer_code, rank, product_key): each scenario's own
    list for every customer it applies to, evaluated on the eligible customers it covers,
    with the baselines on the same customers, in the scopes ``list:<SCENARIO>``."""
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
    recs = baselines.all_baselines(s, base_customers.lazy().select("customer_code"))
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
        )
        table = pl.concat([table, listed.with_columns(scope=pl.lit(LIST_SCOPE + scenario))])
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
    )


# -- the database part ----------------------------------------------------------------------


def new_backtest_id() -> str:
    return f"bt_{datetime.now(UTC):%Y%m%d%H%M%S}_{secrets.token_hex(2)}"


def rebuild(
    db: Database,
    as_of: date,
    schema_prefix: str,
    *,
    full: bool = False,
    select: Sequence[str] = (),
    on_node: Callable[[NodeDone], None] | None = None,
) -> None:
    """Rebuild the dbt warehouse as of ``as_of`` into schemas prefixed ``schema_prefix``.

    Both are passed as environment variables, not ``--vars``: dbt keeps its partial parsing
    across rebuilds that change only the as-of date (the cutoffs of one walk-forward run)."""
    args = [*(FULL_REBUILD if full else FAST_REBUILD)]
    if select:
        args += ["--select", *select]
    project_env = {"RECO_AS_OF_DATE": as_of.isoformat(), "RECO_SCHEMA_PREFIX": schema_prefix}
    run_dbt(db, args, capture=True, project_env=project_env, on_node=on_node)


def read_purchase_events(
    db: Database, schema_prefix: str, since: date | None = None, until: date | None = None
) -> pl.DataFrame:
    """Purchase events from ``<prefix>marts.order_line`` (``is_purchase``), optionally only
    ``since <= order_date < until``, read through ADBC."""
    import adbc_driver_postgresql.dbapi as adbc

    where = ["is_purchase", "customer_code is not null", "product_key is not null"]
    if since is not None:
        where.append(f"order_date >= date '{since.isoformat()}'")
    if until is not None:
        where.append(f"order_date < date '{until.isoformat()}'")
    sql = f"""
        select customer_code::text as customer_code, doc_ref::text as order_id,
               product_key::text as product_key, min(order_date) as order_date
        from "{schema_prefix}marts".order_line
        where {" and ".join(where)}
        group by 1, 2, 3
    """
    with adbc.connect(db.conninfo()) as conn, conn.cursor() as cur:
        cur.execute(sql)
        frame = pl.from_arrow(cur.fetch_arrow_table())
    return frame.cast({"order_date": pl.Date})


def scoring_config(path: Path | None, horizon_days: int):
    """The configuration at ``path`` with the backtest's horizon as ``rhythm.horizon_days``:
    the window evaluated is the campaign's, which drives calibration and self-validation."""
    from reco.scoring import load_config

    config = load_config(path)
    return replace(config, rhythm=replace(config.rhythm, horizon_days=horizon_days))


def platform_scorer(
    db: Database,
    schema_prefix: str,
    cutoff: date,
    config: Path | None,
    contact_rules: bool,
    horizon_days: int,
) -> pl.DataFrame:
    """The platform's own scoring (``reco.scoring``) on the rebuilt marts; its ``as_of`` is
    the cutoff (it reads purchases strictly before it, contacts up to it)."""
    from reco.scoring import read_inputs, score

    inputs = read_inputs(db, schema_prefix=schema_prefix, as_of=cutoff, contacts_until=cutoff)
    result = score(inputs, scoring_config(config, horizon_days), apply_contact_rules=contact_rules)
    items = result.items
    items = items.collect() if isinstance(items, pl.LazyFrame) else items
    return items.select("customer_code", "scenario", "rank", "product_key")


def score_lists(inputs, config, scenarios: Sequence[str] | None = None) -> dict[str, pl.DataFrame]:
    """Each scenario's own list (customer_code, rank, product_key) for every customer with
    history it applies to, as if it were the only scenario (REBUY with no probability floor):
    the comparisons of ANCHORS.md, scenario by scenario. NURTURE's list covers the customers
    it fits (at most ``nurture.max_orders`` orders), not those it would catch as the fallback."""
    from reco.scoring import score
    from reco.scoring.config import SCENARIOS

    lists = {}
    for scenario in scenarios or SCENARIOS:
        forced = replace(config, priority=(scenario,), rebuy=replace(config.rebuy, min_hit_probability=0.0))
        result = score(inputs, forced, apply_contact_rules=False)
        caught = result.audits.filter(kind="fallback", reason_code="no_scenario_fits")
        lists[scenario] = (
            result.items.filter(scenario=scenario)
            .join(caught.select("customer_code"), on="customer_code", how="anti")
            .select("customer_code", "rank", "product_key")
        )
    return lists


def platform_lists(
    db: Database, schema_prefix: str, cutoff: date, config: Path | None, horizon_days: int
) -> dict[str, pl.DataFrame]:
    """:func:`score_lists` on the rebuilt marts as of ``cutoff``."""
    from reco.scoring import read_inputs

    inputs = read_inputs(db, schema_prefix=schema_prefix, as_of=cutoff, contacts_until=cutoff)
    return score_lists(inputs, scoring_config(config, horizon_days))


def live_truth_covers(db: Database, window_end: date) -> bool:
    """True when the live ``marts.order_line`` holds every line up to ``window_end - 1 day``
    (or up to the last line loaded, when the data stops earlier)."""
    with connect(db) as conn:
        built = conn.execute(
            text(
                "select to_regclass('marts.order_line') is not null"
                " and to_regclass('intermediate.int_as_of_date') is not null"
            )
        ).scalar_one()
        if not built:
            return False
        as_of = conn.execute(text("select max(as_of_date) from intermediate.int_as_of_date"))
        as_of = as_of.scalar_one()
        last_loaded = conn.execute(text("select max(order_date) from raw.sales_line")).scalar_one()
    if as_of is None or last_loaded is None:
        return False
    return as_of >= min(window_end - timedelta(days=1), last_loaded)


def drop_schemas(db: Database, schema_prefix: str) -> list[str]:
    """Drop every schema whose name starts with ``schema_prefix`` (a backtest's own)."""
    if not schema_prefix.startswith("bt_"):
        raise ValueError(f"refusing to drop schemas of a non-backtest prefix {schema_prefix!r}")
    with connect(db) as conn:
        names = (
            conn.execute(
                text("select nspname from pg_namespace where starts_with(nspname, :p)"),
                {"p": schema_prefix},
            )
            .scalars()
            .all()
        )
        for name in names:
            conn.execute(text(f'drop schema "{name}" cascade'))
    return list(names)


def save(db: Database, report: BacktestReport, config: Path | None) -> None:
    """Write the run and every result row into reco.backtest_run / reco.backtest_result."""
    rows = report.results().select(
        pl.lit(report.backtest_id).alias("backtest_id"),
        "cutoff",
        pl.lit(report.horizon_days).alias("horizon_days"),
        "method",
        "scope",
        "metric",
        "value",
        "ci_low",
        "ci_high",
        "n_customers",
    )
    with connect(db) as conn:
        conn.execute(
            update(BacktestRun)
            .where(BacktestRun.backtest_id == report.backtest_id)
            .values(
                status="succeeded",
                finished_at=datetime.now(UTC),
                seconds=report.seconds,
                config_json={"config_path": str(config) if config else None, "truth": report.truth},
            )
        )
        conn.execute(insert(BacktestResult), rows.to_dicts())  # a few hundred rows


def _start(db: Database, backtest_id: str, cutoffs: Sequence[date], horizon: int, rules: bool):
    from reco import __version__ as version

    with connect(db) as conn:
        conn.execute(
            insert(BacktestRun).values(
                backtest_id=backtest_id,
                status="running",
                cutoffs=[c.isoformat() for c in cutoffs],
                horizon_days=horizon,
                with_contact_rules=rules,
                config_json={},
                package_version=version,
            )
        )


def _fail(db: Database, backtest_id: str, error: str) -> None:
    with connect(db) as conn:
        conn.execute(
            update(BacktestRun)
            .where(BacktestRun.backtest_id == backtest_id, BacktestRun.status == "running")
            .values(status="failed", finished_at=datetime.now(UTC), error=error[:4000])
        )


ABANDONED = (
    "abandoned: its process ended without cleaning up (kill -9, a crash or a lost connection); "
    "marked failed and its schemas dropped by backtest {by}"
)


def _reason(exc: BaseException) -> str:
    """Why a backtest stopped, as recorded: "interrupted by SIGTERM", or the error."""
    if isinstance(exc, Interrupted):
        return str(exc)
    if isinstance(exc, KeyboardInterrupt):
        return "interrupted by SIGINT"
    return f"{type(exc).__name__}: {exc}"


def recover_abandoned(db: Database, by: str) -> list[str]:
    """Backtests still ``running`` whose process is gone (their advisory lock is free): mark
    each failed and drop its schemas. A live backtest holds its lock and is left alone."""
    with locks.session(db) as conn:
        running = conn.execute("select backtest_id from reco.backtest_run where status = 'running'")
        recovered = []
        for (backtest_id,) in running.fetchall():
            if not locks.try_lock(conn, locks.BACKTEST, backtest_id):
                continue
            try:
                drop_schemas(db, f"{backtest_id}_")
                _fail(db, backtest_id, ABANDONED.format(by=by))
                recovered.append(backtest_id)
            finally:
                locks.unlock(conn, locks.BACKTEST, backtest_id)
    return recovered


def run_backtest(
    db: Database,
    cutoffs: Sequence[date],
    horizon_days: int,
    *,
    config: Path | None = None,
    with_contact_rules: bool = False,
    full_dbt_build: bool = False,
    keep_schemas: bool = False,
    truth: str = "auto",
    scenario_lists: bool = False,
    scorer: Scorer = platform_scorer,
    n_resamples: int = 1000,
    progress: Callable[[str], None] = lambda _msg: None,
    on_node: Callable[[NodeDone], None] | None = None,
) -> BacktestReport:
    """Walk forward over ``cutoffs`` (ascending); one report, saved in the database.
    ``progress`` is told each stage as it starts, ``on_node`` each dbt node of the rebuilds."""
    if not cutoffs:
        raise RecoError("backtest: give at least one cutoff date (--cutoff or --cutoffs)")
    if horizon_days <= 0:
        raise RecoError(f"backtest: --horizon-days must be a positive number, got {horizon_days}")
    if config is not None and not Path(config).is_file():
        raise RecoError(f"backtest: config file not found: {config}")
    if truth not in TRUTH_CHOICES:
        raise RecoError(f"backtest: --truth must be one of {', '.join(TRUTH_CHOICES)}, got {truth!r}")
    migrate.require_current(db)
    cutoffs = sorted(set(cutoffs))
    backtest_id = new_backtest_id()
    for stale in recover_abandoned(db, by=backtest_id):
        progress(f"backtest {stale} had been left running by a dead process: marked failed, schemas dropped")
    with locks.session(db) as alive:
        # Taken before the row exists, so that no other backtest ever sees it running unlocked;
        # released by the server when this session ends, however this process ends.
        if not locks.try_lock(alive, locks.BACKTEST, backtest_id):  # a hashtext collision
            raise RecoError(f"backtest {backtest_id}: its lock is taken by another backtest; run it again")
        prefix, truth_prefix = f"{backtest_id}_", f"{backtest_id}_truth_"
        report = BacktestReport(backtest_id, horizon_days, with_contact_rules)
        started = time.perf_counter()
        _start(db, backtest_id, cutoffs, horizon_days, with_contact_rules)
        try:
            last_end = cutoffs[-1] + timedelta(days=horizon_days)
            t0 = time.perf_counter()
            live = truth != "rebuild" and live_truth_covers(db, last_end)
            if truth == "live" and not live:
                raise RecoError(
                    f"backtest: --truth live, but the live marts do not cover the window up to "
                    f"{last_end - timedelta(days=1)} (run: reco dbt build)"
                )
            if live:
                truth_prefix = ""
                progress("ground truth: the live marts.order_line (read only)")
            else:
                progress(f"rebuilding order_line as of {last_end - timedelta(days=1)} (ground truth)")
                rebuild(db, last_end - timedelta(days=1), truth_prefix, select=TRUTH_MARTS, on_node=on_node)
            truth_seconds = time.perf_counter() - t0
            for cutoff in cutoffs:
                as_of = cutoff - timedelta(days=1)
                progress(f"cutoff {cutoff}: rebuilding the marts as of {as_of}")
                t0 = time.perf_counter()
                rebuild(db, as_of, prefix, full=full_dbt_build, select=SCORER_MARTS, on_node=on_node)
                t_rebuild = time.perf_counter() - t0
                progress(f"cutoff {cutoff}: scoring")
                t0 = time.perf_counter()
                recs = scorer(db, prefix, cutoff, config, with_contact_rules, horizon_days)
                t_score = time.perf_counter() - t0
                t0 = time.perf_counter()
                lists = None
                if scenario_lists:
                    progress(f"cutoff {cutoff}: scoring each scenario's own list")
                    lists = platform_lists(db, prefix, cutoff, config, horizon_days)
                t_lists = time.perf_counter() - t0
                t0 = time.perf_counter()
                train = read_purchase_events(db, prefix, until=cutoff)
                window = read_purchase_events(
                    db, truth_prefix, since=cutoff, until=cutoff + timedelta(days=horizon_days)
                )
                t_read = time.perf_counter() - t0
                progress(f"cutoff {cutoff}: evaluating")
                result = evaluate_cutoff(
                    pl.concat([train, window]).lazy(),
                    cutoff,
                    horizon_days,
                    recs,
                    restrict_to_scored=with_contact_rules,
                    n_resamples=n_resamples,
                    scenario_lists=lists,
                )
                result.seconds = {
                    "rebuild": t_rebuild,
                    "score": t_score,
                    **({"score_lists": t_lists} if scenario_lists else {}),
                    "read": t_read,
                    **result.seconds,
                }
                report.cutoffs.append(result)
            report.seconds = time.perf_counter() - started
            report.cutoffs[0].seconds["truth"] = truth_seconds
            report.truth = "live" if live else "rebuild"
            save(db, report, config)
        except BaseException as exc:
            _fail(db, backtest_id, _reason(exc))
            raise
        finally:
            if not keep_schemas:
                drop_schemas(db, prefix)
        return report
