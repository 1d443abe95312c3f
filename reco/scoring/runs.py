"""Scoring runs: ``run_scoring`` (atomic, idempotent, crash-safe) and run inspection.

Life of a run (docs/scoring.md):

1. a session advisory lock on the run id is taken on a dedicated connection and held until the
   end: a second process scoring the same id fails at once with a clear message;
2. the reco_run row is upserted with status ``running`` (committed, so that it is visible);
   a previous success is refused without ``replace``; with ``replace`` its items and audits are
   discarded in that same transaction;
3. inputs are read and scored;
4. the control group is drawn (``reco.scoring.control``: per scenario, from the run id);
5. in ONE transaction: items, audits and groups are bulk-loaded (ADBC) into temporary tables,
   copied into reco.reco_item / reco.audit_item / reco.run_customer, and the run flips to
   ``succeeded`` with its counts.

A crash (kill -9) before step 4 commits leaves no item or audit and a ``running`` row whose lock
is free: every later command (run, list, show) marks such a run ``failed`` as crashed.
"""

from __future__ import annotations

import json
import re
import secrets
import subprocess
import time
import traceback
from contextlib import contextmanager
from dataclasses import dataclass, field
from datetime import UTC, date, datetime
from pathlib import Path

import polars as pl
import psycopg
from psycopg.types.json import Jsonb

import reco
from reco.db import migrate
from reco.db.engine import adbc_connect, psycopg_connect
from reco.db.target import Database, mask_url
from reco.errors import RecoError
from reco.scoring.config import load_config
from reco.scoring.control import assign_groups, group_counts
from reco.scoring.engine import ScoringResult, score
from reco.scoring.inputs import fingerprint, marts_schema, read_inputs
from reco.scoring.marts import marts_source
from reco.scoring.why import nobody
from reco.settings import project_root

RUN_ID = re.compile(r"[A-Za-z0-9][A-Za-z0-9._:-]{0,127}")
#: First key of the two-key advisory lock that guards a run id (second: hashtext(run_id)).
LOCK_CLASS = 0x5EC0
CRASHED = "crashed: the scoring process ended before finishing (its lock was released)"


@dataclass
class RunSummary:
    run_id: str
    status: str  # succeeded | failed | dry-run
    as_of: date
    counts: dict
    fingerprint: dict
    seconds: float
    timings: dict = field(default_factory=dict)
    result: ScoringResult | None = field(default=None, repr=False)
    #: one row per scored customer: customer_code, scenario, grp (treatment | control)
    groups: pl.DataFrame | None = field(default=None, repr=False)

    def as_json(self) -> dict:
        """The run as ``reco score --json`` (and ``reco demo --json``) print it."""
        return {
            "run_id": self.run_id,
            "status": self.status,
            "as_of": self.as_of.isoformat(),
            "counts": self.counts,
            "input_fingerprint": self.fingerprint,
            "seconds": round(self.seconds, 3),
        }


def validate_run_id(run_id: str | None) -> str:
    """The run id, or a new one (UTC timestamp + random suffix) when None."""
    if run_id is None:
        return f"{datetime.now(UTC):%Y%m%dT%H%M%SZ}-{secrets.token_hex(3)}"
    if not RUN_ID.fullmatch(run_id):
        raise RecoError(
            f"invalid run id {run_id!r}: expected 1-128 letters, digits, '.', '_', ':' or '-', "
            "starting with a letter or digit"
        )
    return run_id


def git_commit() -> str | None:
    root = project_root()
    if not (root / ".git").exists():
        return None
    try:
        out = subprocess.run(
            ["git", "-C", str(root), "rev-parse", "HEAD"],
            capture_output=True,
            text=True,
            timeout=5,
            check=False,
        )
    except (OSError, subprocess.SubprocessError):
        return None
    return out.stdout.strip() or None if out.returncode == 0 else None


def _pg(db: Database) -> psycopg.Connection:
    """An autocommit connection, closed at the end of its ``with`` block."""
    return psycopg_connect(db, autocommit=True)


def _try_lock(conn: psycopg.Connection, run_id: str) -> bool:
    return conn.execute("select pg_try_advisory_lock(%s, hashtext(%s))", (LOCK_CLASS, run_id)).fetchone()[0]


def _unlock(conn: psycopg.Connection, run_id: str) -> None:
    conn.execute("select pg_advisory_unlock(%s, hashtext(%s))", (LOCK_CLASS, run_id))


def reconcile_crashed(db: Database, conn: psycopg.Connection | None = None) -> list[str]:
    """Mark ``failed`` every ``running`` run whose process is gone (its lock is free)."""
    with _pg(db) if conn is None else _nullctx(conn) as c:
        running = [r[0] for r in c.execute("select run_id from reco.reco_run where status = 'running'")]
        crashed = []
        for run_id in running:
            if _try_lock(c, run_id):
                try:
                    cur = c.execute(
                        "update reco.reco_run set status = 'failed', error = %s, "
                        "finished_at = now() "
                        "where run_id = %s and status = 'running'",
                        (CRASHED, run_id),
                    )
                    if cur.rowcount:
                        crashed.append(run_id)
                finally:
                    _unlock(c, run_id)
        return crashed


@contextmanager
def _nullctx(conn):
    yield conn


def _start(conn: psycopg.Connection, run_id: str, as_of: date, config: dict, replace: bool) -> None:
    """Record the run as running (and discard a replaced run's rows), in one transaction."""
    with conn.transaction():
        row = conn.execute(
            "select status from reco.reco_run where run_id = %s for update", (run_id,)
        ).fetchone()
        if row and row[0] == "succeeded" and not replace:
            raise RecoError(
                f"run {run_id!r} already succeeded; pass --replace to score it again "
                "(its recommendations will be replaced)"
            )
        if row and row[0] == "succeeded":  # replaced: its rows go now (a failed run has none)
            conn.execute("delete from reco.reco_item where run_id = %s", (run_id,))
            conn.execute("delete from reco.audit_item where run_id = %s", (run_id,))
            conn.execute("delete from reco.run_customer where run_id = %s", (run_id,))
        conn.execute(
            """
            insert into reco.reco_run (run_id, status, as_of, started_at, finished_at, config_json,
                package_version, git_commit, input_fingerprint, counts_json, n_eligible,
                n_suppressed, error)
            values (%s, 'running', %s, now(), null, %s, %s, %s, null, null, null, null, null)
            on conflict (run_id) do update set status = 'running', as_of = excluded.as_of,
                started_at = now(), finished_at = null, config_json = excluded.config_json,
                package_version = excluded.package_version, git_commit = excluded.git_commit,
                input_fingerprint = null, counts_json = null, n_eligible = null,
                n_suppressed = null, error = null
            """,
            (run_id, as_of, Jsonb(config), reco.__version__, git_commit()),
        )


def _sql_literal(value: str) -> str:
    return "'" + value.replace("'", "''") + "'"


def with_segments(groups: pl.DataFrame, profiles: pl.LazyFrame) -> pl.DataFrame:
    """``groups`` with each customer's RFM ``segment`` from the profiles read for the run (null
    without a profile): uplift can then be read per segment as it was at scoring time."""
    segments = profiles.select("customer_code", pl.col("segment").cast(pl.String)).collect()
    return groups.join(segments, on="customer_code", how="left")


def write_result(db: Database, run_id: str, result: ScoringResult, fp: dict, groups: pl.DataFrame) -> None:
    """Items, audits, groups and the run's success in one transaction: all visible at once,
    or none."""
    run = _sql_literal(run_id)
    with adbc_connect(db) as conn, conn.cursor() as cur:
        cur.adbc_ingest("_reco_item_in", result.items.to_arrow(), mode="create", temporary=True)
        cur.adbc_ingest("_audit_item_in", result.audits.to_arrow(), mode="create", temporary=True)
        cur.adbc_ingest("_run_customer_in", groups.to_arrow(), mode="create", temporary=True)
        # no leftovers can exist (writes are atomic), but nothing but this run's rows may stay
        cur.execute(f"delete from reco.reco_item where run_id = {run}")
        cur.execute(f"delete from reco.audit_item where run_id = {run}")
        cur.execute(f"delete from reco.run_customer where run_id = {run}")
        cur.execute(
            f"""insert into reco.reco_item
                (run_id, customer_code, scenario, rank, product_key, score, reasons_json)
            select {run}, customer_code, scenario, rank, product_key, score, reasons_json::json
            from _reco_item_in"""
        )
        cur.execute(
            f"""insert into reco.audit_item
                (run_id, customer_code, kind, reason_code, severity, product_key, details_json)
            select {run}, customer_code, kind, reason_code, severity, product_key,
                details_json::json
            from _audit_item_in"""
        )
        cur.execute(
            f"""insert into reco.run_customer (run_id, customer_code, scenario, grp, segment)
            select {run}, customer_code, scenario, grp, segment from _run_customer_in"""
        )
        counts = result.counts
        cur.execute(
            """update reco.reco_run set status = 'succeeded', finished_at = now(),
                counts_json = $1::jsonb, input_fingerprint = $2::jsonb, n_eligible = $3,
                n_suppressed = $4, error = null
            where run_id = $5 and status = 'running'""",
            parameters=(
                json.dumps(counts),
                json.dumps(fp),
                counts["eligible"],
                counts["suppressed"],
                run_id,
            ),
        )
        cur.execute("select status from reco.reco_run where run_id = $1", parameters=(run_id,))
        status = cur.fetchone()
        if not status or status[0] != "succeeded":
            conn.rollback()
            raise RecoError(
                f"run {run_id!r} changed during scoring (status {status and status[0]!r}); nothing written"
            )
        conn.commit()


def _fail(conn: psycopg.Connection, run_id: str, error: str) -> None:
    conn.execute(
        "update reco.reco_run set status = 'failed', finished_at = now(), error = %s "
        "where run_id = %s and status = 'running'",
        (error[:4000], run_id),
    )


def run_scoring(
    db: Database,
    run_id: str | None,
    *,
    as_of: date | None = None,
    config_path: Path | None = None,
    dry_run: bool = False,
    replace: bool = False,
    schema_prefix: str = "",
    marts: str | None = None,
) -> RunSummary:
    """Score every eligible customer and record the run (nothing is written with dry_run).
    ``marts``: where the marts are read (``reco.scoring.marts.marts_source``: None or
    ``postgres`` for ``<prefix>marts``, ``parquet:PATH`` for Parquet files); the run is
    written to PostgreSQL either way."""
    run_id = validate_run_id(run_id)
    source = marts_source(marts, marts_schema(schema_prefix))
    config = load_config(config_path)
    as_of = as_of or date.today()
    t0 = time.perf_counter()
    if dry_run:
        inputs = read_inputs(db, marts=source, as_of=as_of)
        t_read = time.perf_counter() - t0
        result = score(inputs, config)
        groups = assign_groups(result.items, run_id, config.campaign.control_share)
        result.counts["groups"] = group_counts(groups)
        return RunSummary(
            run_id,
            "dry-run",
            as_of,
            result.counts,
            fingerprint(inputs),
            time.perf_counter() - t0,
            {"read": t_read},
            result,
            groups,
        )
    migrate.require_current(db)
    with _pg(db) as conn:
        if not _try_lock(conn, run_id):
            raise RecoError(f"run {run_id!r} is being scored by another process; try again when it ends")
        try:
            reconcile_crashed(db, conn)
            _start(conn, run_id, as_of, config.to_dict(), replace)
            try:
                inputs = read_inputs(db, marts=source, as_of=as_of)
                t_read = time.perf_counter() - t0
                result = score(inputs, config)
                groups = with_segments(
                    assign_groups(result.items, run_id, config.campaign.control_share), inputs.profiles
                )
                result.counts["groups"] = group_counts(groups)
                t_score = time.perf_counter() - t0 - t_read
                fp = fingerprint(inputs)
                write_result(db, run_id, result, fp, groups)
                t_write = time.perf_counter() - t0 - t_read - t_score
            except BaseException as exc:
                message = (
                    str(exc)
                    if isinstance(exc, RecoError)
                    else (f"{type(exc).__name__}: {exc}\n{traceback.format_exc(limit=5)}")
                )
                _fail(conn, run_id, mask_url(message))
                raise
        finally:
            _unlock(conn, run_id)
    timings = {"read": t_read, "score": t_score, "write": t_write}
    return RunSummary(
        run_id, "succeeded", as_of, result.counts, fp, time.perf_counter() - t0, timings, result, groups
    )


# -- inspection ------------------------------------------------------------------------------


def _rows(conn: psycopg.Connection, sql: str, params: tuple = ()) -> list[dict]:
    cur = conn.execute(sql, params)
    names = [d.name for d in cur.description]
    return [dict(zip(names, row, strict=True)) for row in cur.fetchall()]


def _jsonable(value):
    if isinstance(value, datetime | date):
        return value.isoformat()
    if isinstance(value, dict):
        return {k: _jsonable(v) for k, v in value.items()}
    if isinstance(value, list):
        return [_jsonable(v) for v in value]
    return value


def list_runs(db: Database, limit: int = 50) -> list[dict]:
    """Most recent runs first, with their per-scenario counts."""
    with _pg(db) as conn:
        reconcile_crashed(db, conn)
        rows = _rows(
            conn,
            """select run_id, status, as_of, started_at, finished_at, n_eligible, n_suppressed,
                   counts_json, error
               from reco.reco_run order by started_at desc, run_id limit %s""",
            (limit,),
        )
    out = []
    for r in rows:
        counts = r.pop("counts_json") or {}
        r["items"] = counts.get("items")
        r["by_scenario"] = counts.get("by_scenario", {})
        r["error"] = (r["error"] or "").splitlines()[0] if r["error"] else None
        out.append(_jsonable(r))
    return out


def show_run(db: Database, run_id: str) -> dict:
    """One run: metadata, per-scenario counts and score distributions, suppression reasons,
    audit counts."""
    with _pg(db) as conn:
        reconcile_crashed(db, conn)
        runs = _rows(conn, "select * from reco.reco_run where run_id = %s", (run_id,))
        if not runs:
            raise RecoError(f"no run {run_id!r} (see: reco runs list)")
        run = runs[0]
        run["scenarios"] = _rows(
            conn,
            """select scenario, count(distinct customer_code) as customers, count(*) as items,
                   round(min(score)::numeric, 4) as min,
                   round(percentile_cont(0.25) within group (order by score)::numeric, 4) as p25,
                   round(percentile_cont(0.5) within group (order by score)::numeric, 4) as median,
                   round(percentile_cont(0.75) within group (order by score)::numeric, 4) as p75,
                   round(max(score)::numeric, 4) as max, round(avg(score)::numeric, 4) as mean
               from reco.reco_item where run_id = %s group by scenario order by scenario""",
            (run_id,),
        )
        run["suppression_reasons"] = _rows(
            conn,
            """select reason_code, count(*) as customers from reco.audit_item
               where run_id = %s and kind = 'suppressed'
               group by reason_code order by customers desc, reason_code""",
            (run_id,),
        )
        run["groups"] = _rows(
            conn,
            """select scenario,
                   count(*) filter (where grp = 'treatment') as treatment,
                   count(*) filter (where grp = 'control') as control
               from reco.run_customer where run_id = %s group by scenario order by scenario""",
            (run_id,),
        )
        run["outcomes"] = _rows(
            conn,
            """select grp, min(window_start) as window_start, min(window_days) as window_days,
                   bool_or(is_partial) as is_partial, count(*) as customers,
                   count(*) filter (where n_orders > 0) as buyers, sum(revenue) as revenue
               from reco.run_outcome where run_id = %s group by grp order by grp desc""",
            (run_id,),
        )
        run["audits"] = audit_summary(conn, run_id)
        run["sample"] = sample_items(conn, run_id)
    counts = run.get("counts_json") or {}
    priority = (run.get("config_json") or {}).get("priority") or []
    run["nobody"] = nobody(counts, priority) if run["status"] == "succeeded" else {}
    for key in ("scenarios", "suppression_reasons", "outcomes"):
        run[key] = [{k: float(v) if hasattr(v, "as_tuple") else v for k, v in r.items()} for r in run[key]]
    return _jsonable(run)


#: a sample of a run's customers: per scenario, the first ``%(per_scenario)s`` by a hash of
#: their code (the same customers at every look, none favoured by its score), with their items
#: and the reasons in words
SAMPLE_SQL = """
    with picked as (
        select customer_code, scenario,
               row_number() over (partition by scenario order by md5(customer_code), customer_code) as n
        from reco.reco_item
        where run_id = %(run_id)s and rank = 1
    )
    select i.customer_code, i.scenario, i.rank, i.product_key, i.score,
           i.reasons_json ->> 'scenario_why' as scenario_why, i.reasons_json ->> 'why' as why
    from reco.reco_item i
    join picked p on p.customer_code = i.customer_code and p.n <= %(per_scenario)s
    where i.run_id = %(run_id)s
    order by i.scenario, p.n, i.rank
"""


def sample_items(
    conn: psycopg.Connection, run_id: str, per_scenario: int = 2, schema: str = "marts"
) -> list[dict]:
    """:data:`SAMPLE_SQL`'s rows, each with the product's ``product_label`` from
    ``<schema>.product`` (null when the warehouse has no such table or product)."""
    rows = _rows(conn, SAMPLE_SQL, {"run_id": run_id, "per_scenario": per_scenario})
    labels: dict = {}
    if rows and conn.execute("select to_regclass(%s)", (f"{schema}.product",)).fetchone()[0]:
        keys = sorted({r["product_key"] for r in rows})
        labels = dict(
            conn.execute(
                f"select product_key::text, product_label::text from {schema}.product"
                " where product_key = any(%s)",
                (keys,),
            ).fetchall()
        )
    return [r | {"product_label": labels.get(r["product_key"])} for r in rows]


def audit_summary(conn: psycopg.Connection, run_id: str) -> list[dict]:
    return _rows(
        conn,
        """select kind, reason_code, severity, count(*) as n,
               count(distinct customer_code) as customers,
               (array_agg(customer_code order by customer_code)
                   filter (where customer_code is not null))[1:3] as examples
           from reco.audit_item where run_id = %s
           group by kind, reason_code, severity
           order by case severity when 'error' then 0 when 'warning' then 1 else 2 end,
               n desc, kind, reason_code""",
        (run_id,),
    )


def run_audit(db: Database, run_id: str, *, kind: str | None = None, limit: int = 20) -> dict:
    """Audit summary of a run, and its first ``limit`` audit items (of one kind if given)."""
    with _pg(db) as conn:
        if not conn.execute("select 1 from reco.reco_run where run_id = %s", (run_id,)).fetchone():
            raise RecoError(f"no run {run_id!r} (see: reco runs list)")
        summary = audit_summary(conn, run_id)
        items = _rows(
            conn,
            """select customer_code, kind, reason_code, severity, product_key, details_json
               from reco.audit_item where run_id = %s and (%s::text is null or kind = %s)
               order by case severity when 'error' then 0 when 'warning' then 1 else 2 end,
                   kind, reason_code, customer_code nulls first, id
               limit %s""",
            (run_id, kind, kind, limit),
        )
    return _jsonable({"run_id": run_id, "summary": summary, "items": items})


def summarise_run(summary: RunSummary) -> list[tuple[str, str]]:
    """(label, value) rows describing a finished run, for tables (``reco score``, ``reco demo``)."""
    c = summary.counts
    rows = [
        ("run id", summary.run_id),
        ("status", summary.status),
        ("as of", summary.as_of.isoformat()),
        ("customers", f"{c['customers']:,}"),
        ("eligible", f"{c['eligible']:,}"),
        ("suppressed", f"{c['suppressed']:,}"),
    ]
    rows += [(f"  {reason}", f"{n:,}") for reason, n in c["suppressed_by_reason"].items()]
    groups = c.get("groups", {})
    rows += [
        (f"{s}", f"{n:,} customers" + (f" ({groups[s]['control']:,} control)" if s in groups else ""))
        for s, n in c["by_scenario"].items()
    ]
    rows += [
        ("items", f"{c['items']:,}"),
        ("filled from popular", f"{c['fallback_filled_customers']:,} customers"),
        ("short lists", f"{c['short_list_customers']:,} customers"),
        ("seconds", f"{summary.seconds:.2f}"),
    ]
    return rows


__all__ = ["RunSummary", "run_scoring", "list_runs", "show_run", "run_audit", "summarise_run", "pl"]
