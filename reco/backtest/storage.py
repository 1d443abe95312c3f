"""The database side of a backtest: the warehouse rebuilt as of a cutoff into the backtest's
own schemas (dbt), purchase events read back from it, the runs and results in
``reco.backtest_run`` / ``reco.backtest_result``, and the clean-up of schemas and of backtests
a dead process left running.
"""

from __future__ import annotations

import secrets
from collections.abc import Callable, Sequence
from datetime import UTC, date, datetime, timedelta
from pathlib import Path

import polars as pl
from sqlalchemy import insert, text, update

from reco.backtest.evaluation import BacktestReport
from reco.db import locks
from reco.db.engine import adbc_connect, connect
from reco.db.models.backtest import BacktestResult, BacktestRun
from reco.db.target import Database
from reco.dbt.runner import NodeDone, run_dbt

#: dbt arguments of a rebuild: models and seeds, data tests skipped for speed (the live
#: ``dbt build`` runs them on the same code); ``--full-dbt-build`` runs them too.
FAST_REBUILD = ["build", "--exclude-resource-type", "test", "--exclude-resource-type", "unit_test"]
FULL_REBUILD = ["build"]


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
    with adbc_connect(db) as conn, conn.cursor() as cur:
        cur.execute(sql)
        frame = pl.from_arrow(cur.fetch_arrow_table())
    return frame.cast({"order_date": pl.Date})


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


def start(db: Database, backtest_id: str, cutoffs: Sequence[date], horizon: int, rules: bool):
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


def fail(db: Database, backtest_id: str, error: str) -> None:
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
                fail(db, backtest_id, ABANDONED.format(by=by))
                recovered.append(backtest_id)
            finally:
                locks.unlock(conn, locks.BACKTEST, backtest_id)
    return recovered
