"""``reco backtest`` end to end: rebuild the warehouse as of each cutoff into its own schemas,
score every customer with history, compare with what they bought next, evaluate the platform
and the baselines on the same customers, save the results. This module walks the cutoffs;
the evaluation itself is pure (reco.backtest.evaluation), the database work is
reco.backtest.storage.

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

import time
from collections.abc import Callable, Sequence
from dataclasses import replace
from datetime import date, timedelta
from pathlib import Path

import polars as pl

from reco.backtest.evaluation import BacktestReport, evaluate_cutoff, score_lists
from reco.backtest.storage import (
    drop_schemas,
    fail,
    live_truth_covers,
    new_backtest_id,
    read_purchase_events,
    rebuild,
    recover_abandoned,
    save,
    start,
)
from reco.db import locks, migrate
from reco.db.target import Database
from reco.dbt.runner import NodeDone
from reco.errors import Interrupted, RecoError

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


def platform_lists(
    db: Database, schema_prefix: str, cutoff: date, config: Path | None, horizon_days: int
) -> dict[str, pl.DataFrame]:
    """:func:`score_lists` on the rebuilt marts as of ``cutoff``."""
    from reco.scoring import read_inputs

    inputs = read_inputs(db, schema_prefix=schema_prefix, as_of=cutoff, contacts_until=cutoff)
    return score_lists(inputs, scoring_config(config, horizon_days))


def platform_tradeoff(
    db: Database, schema_prefix: str, cutoff: date, config: Path | None, horizon_days: int
) -> tuple[dict, float]:
    """The trade-off curve's points on the rebuilt marts as of ``cutoff``
    (reco.backtest.tradeoff.score_points), and the configuration's own ``prior_rebuy``."""
    from reco.backtest.tradeoff import score_points
    from reco.scoring import read_inputs

    inputs = read_inputs(db, schema_prefix=schema_prefix, as_of=cutoff, contacts_until=cutoff)
    scoring = scoring_config(config, horizon_days)
    return score_points(inputs, scoring), scoring.arbitration.prior_rebuy


def _reason(exc: BaseException) -> str:
    """Why a backtest stopped, as recorded: "interrupted by SIGTERM", or the error."""
    if isinstance(exc, Interrupted):
        return str(exc)
    if isinstance(exc, KeyboardInterrupt):
        return "interrupted by SIGINT"
    return f"{type(exc).__name__}: {exc}"


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
    tradeoff: bool = False,
    scorer: Scorer = platform_scorer,
    n_resamples: int = 1000,
    progress: Callable[[str], None] = lambda _msg: None,
    on_node: Callable[[NodeDone], None] | None = None,
) -> BacktestReport:
    """Walk forward over ``cutoffs`` (ascending); one report, saved in the database.
    ``progress`` is told each stage as it starts, ``on_node`` each dbt node of the rebuilds.
    ``tradeoff``: also score and evaluate the trade-off curve (reco.backtest.tradeoff; seven
    more scorings per cutoff)."""
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
        start(db, backtest_id, cutoffs, horizon_days, with_contact_rules)
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
                points, default_prior = None, None
                if tradeoff:
                    progress(f"cutoff {cutoff}: scoring the trade-off curve")
                    points, default_prior = platform_tradeoff(db, prefix, cutoff, config, horizon_days)
                t_tradeoff = time.perf_counter() - t0
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
                    tradeoff_points=points,
                    default_prior_rebuy=default_prior,
                )
                result.seconds = {
                    "rebuild": t_rebuild,
                    "score": t_score,
                    **({"score_lists": t_lists} if scenario_lists else {}),
                    **({"score_tradeoff": t_tradeoff} if tradeoff else {}),
                    "read": t_read,
                    **result.seconds,
                }
                report.cutoffs.append(result)
            report.seconds = time.perf_counter() - started
            report.cutoffs[0].seconds["truth"] = truth_seconds
            report.truth = "live" if live else "rebuild"
            save(db, report, config)
        except BaseException as exc:
            fail(db, backtest_id, _reason(exc))
            raise
        finally:
            if not keep_schemas:
                drop_schemas(db, prefix)
        return report
