"""``reco dbt build``: an incremental build of the warehouse when that gives the same marts as a
cold build, a full refresh otherwise, decided from durable state (docs/warehouse.md,
"Incremental builds").

``order_line``, the one model whose size is the number of sales lines, is an incremental dbt
model that appends only when this module sets ``RECO_INCREMENTAL=order_line``; the customer-grain
models (``int_customer_rfm``, ``int_customer_product_purchases``, the attribute shares and aroma
profiles) then recompute only the customers with lines above ``RECO_INCREMENTAL_AFTER_ID``, the
largest ``order_line`` id of the last successful build (macros/incremental_build.sql). Every
other build (plain dbt, a backtest, a partial build) rebuilds them in full. An appended build
equals a cold one when, since the last build that succeeded (``reco.warehouse_build``, written
only after dbt succeeded):

- ``order_line`` is the one that build left (count, sum and largest id): no failed or partial
  build has appended to it or rebuilt it since, so the customer-grain tables, built from it
  by that build, hold exactly its lines;

- the project (models, macros, seeds, ``dbt_project.yml``, the dbt version) and ``--vars`` are
  the same;
- ``order_line`` still holds exactly the raw lines up to its watermark (largest id) dated up
  to the last as-of date: none deleted, none landed below the watermark since;
- the as-of date did not move back, nor forward past a line that was already loaded;
- no customer code and no sales (product code, label) pair that existed then maps elsewhere now
  (a new e-mail linking two codes, a new alias or catalogue entry, a product learnt from sales).

The last check needs the new mappings: they are rebuilt first (``dbt run`` of the small
intermediates ``int_customer_codes_clustered`` and ``int_sales_label_keys_resolved`` and their
parents), and compared with the previous ones, copied into temporary tables beforehand. The
previous ones are trusted only when their hash is the one recorded by the last successful build;
anything unexpected (no record, a missing table, a hash that differs) means a full refresh.
An incremental build then leaves those freshly built models out (``INCREMENTAL_EXCLUDE``).
"""

from __future__ import annotations

import hashlib
import json
import subprocess
import time
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from datetime import date
from importlib.metadata import version
from pathlib import Path

import yaml

from reco.db.engine import psycopg_connect
from reco.db.target import Database
from reco.dbt.runner import NodeDone, dbt_project_dir, run_dbt
from reco.settings import project_root

#: What ``order_line`` takes from each mapping table: the key of a source row (text) and the
#: value a line gets from it. A change of value for a key that existed is retroactive.
MAPPINGS: dict[str, tuple[str, str, str]] = {
    "int_customer_codes_clustered": (
        "customer code",
        "row(source_customer_code)::text",
        "row(customer_code)::text",
    ),
    "int_sales_label_keys_resolved": (
        "sales (product code, label)",
        "row(source_product_key, source_product_label)::text",
        "row(product_key, resolution = 'non_product')::text",
    ),
}

#: The models rebuilt before deciding: the as-of date and the two mappings, with their parents.
DECIDE_SELECT = ["+int_as_of_date", *(f"+{name}" for name in MAPPINGS)]

#: What an incremental build leaves out: the models the deciding run has just rebuilt from the
#: same inputs (their data tests still run: no indirect selection, so excluding a model does not
#: exclude its tests). Two of them scan every sales line (the distinct codes and label pairs).
INCREMENTAL_EXCLUDE = [
    "--exclude",
    *(f"resource_type:model,{spec}" for spec in DECIDE_SELECT),
    "--indirect-selection",
    "empty",
]

#: Options that select nodes: such a build is partial, and is passed to dbt as it is.
SELECTION_OPTIONS = frozenset(
    {"-s", "--select", "-m", "--models", "--model", "--exclude", "--selector", "--inline"}
)
#: Options of ``dbt build`` that the deciding ``dbt run`` takes too.
CARRIED_OPTIONS = frozenset({"--vars", "--threads", "--target", "-t", "--profile"})

#: Project files whose content decides what the models build (data tests do not).
PROJECT_PARTS = {
    "models": ("models",),
    "macros": ("macros",),
    "seeds": ("seeds",),
    "project": ("dbt_project.yml", "packages.yml", "dependencies.yml"),
}

#: What an incremental build also leaves out when the last build ran the unit tests: they test
#: the models' SQL on fixed rows, never the data, and the project is the same (fingerprint).
NO_UNIT_TESTS = ["--exclude-resource-type", "unit_test"]

FULL, INCREMENTAL = "full", "incremental"


@dataclass(frozen=True)
class BuildPath:
    """The path a build takes, and why (one line for people, and for ``--json``); an incremental
    build also carries the largest ``order_line`` id of the last build (``after_id``: the lines
    above it are new) and whether the unit tests can be left out (the last build ran them)."""

    path: str
    reason: str
    after_id: int | None = None
    skip_unit_tests: bool = False

    def line(self) -> str:
        name = "incremental" if self.path == INCREMENTAL else "full refresh"
        return f"warehouse build: {name} ({self.reason})"


@dataclass(frozen=True)
class BuildResult:
    path: BuildPath
    seconds: float
    proc: subprocess.CompletedProcess


#: Targets of profiles.yml that are not the PostgreSQL database reco resolves (Spark): their
#: builds go to dbt as they are (a full build; this module's state lives in PostgreSQL).
OTHER_ENGINE_TARGETS = frozenset({"spark"})


def is_whole_build(args: Sequence[str]) -> bool:
    """``dbt build`` of the whole project (no node selection) on PostgreSQL: the builds this
    module decides."""
    if not args or args[0] != "build":
        return False
    if any(target in OTHER_ENGINE_TARGETS for target in _values(args, frozenset({"--target", "-t"}))):
        return False
    return not any(a.split("=", 1)[0] in SELECTION_OPTIONS for a in args[1:])


def _values(args: Sequence[str], names: frozenset[str]) -> list[str]:
    """The values given to the options ``names`` (``--opt value`` or ``--opt=value``)."""
    out: list[str] = []
    for i, a in enumerate(args):
        name, eq, value = a.partition("=")
        if name in names:
            out.append(value if eq else (args[i + 1] if i + 1 < len(args) else ""))
    return out


def _option(args: Sequence[str], names: frozenset[str]) -> list[str]:
    out: list[str] = []
    for i, a in enumerate(args):
        name = a.split("=", 1)[0]
        if name in names:
            out += [a] if "=" in a else list(args[i : i + 2])
    return out


def _vars(args: Sequence[str]) -> dict:
    given = _values(args, frozenset({"--vars"}))
    if not given:
        return {}
    text = given[0]
    value = yaml.safe_load(text) if text else {}
    return value if isinstance(value, dict) else {"": value}


def _digest(paths: Sequence[Path]) -> str:
    h = hashlib.sha256()
    for root in paths:
        files = sorted(p for p in root.rglob("*") if p.is_file()) if root.is_dir() else [root]
        for f in files:
            if f.exists():
                h.update(str(f.relative_to(project_root())).encode() + b"\0" + f.read_bytes() + b"\0")
    return h.hexdigest()


def project_fingerprint(args: Sequence[str]) -> dict:
    """What the models are built from besides the data: the project's files (as the manifest's
    checksums would say, without parsing), the profile, dbt's version and ``--vars``."""
    root = dbt_project_dir()
    fingerprint = {part: _digest([root / n for n in names]) for part, names in PROJECT_PARTS.items()}
    fingerprint["profile"] = _digest([project_root() / "profiles.yml"])
    fingerprint["dbt"] = f"dbt-core {version('dbt-core')}, dbt-postgres {version('dbt-postgres')}"
    fingerprint["vars"] = json.dumps(_vars(args), sort_keys=True, default=str)
    return fingerprint


def schema_prefix(args: Sequence[str], project_env: Mapping[str, str]) -> str:
    """The schema prefix dbt will use (the macro schema_prefix: the environment, then --vars)."""
    return (project_env.get("RECO_SCHEMA_PREFIX") or "").strip() or str(
        _vars(args).get("schema_prefix") or ""
    )


def _mapping_sql(prefix: str, name: str) -> str:
    _, key, value = MAPPINGS[name]
    return f'select {key} as k, {value} as v from "{prefix}intermediate".{name}'


def mapping_hashes(cur, prefix: str) -> dict[str, str]:
    """Rows and an order-free hash of each mapping table as it is now."""
    out = {}
    for name in MAPPINGS:
        cur.execute(
            "select count(*) || ':' || coalesce(sum(hashtextextended(k || ' ' || v, 0)::numeric), 0)"
            f" from ({_mapping_sql(prefix, name)}) as m"
        )
        out[name] = cur.fetchone()[0]
    return out


def _as_of(cur, prefix: str) -> date:
    cur.execute(f'select as_of_date from "{prefix}intermediate".int_as_of_date')
    return cur.fetchone()[0]


def _exists(cur, schema: str, table: str) -> bool:
    cur.execute("select to_regclass(%s) is not null", (f'"{schema}".{table}',))
    return cur.fetchone()[0]


def _last_build(cur, prefix: str) -> dict | None:
    cur.execute(
        "select state from reco.warehouse_build where schema_prefix = %s order by id desc limit 1",
        (prefix,),
    )
    row = cur.fetchone()
    return row[0] if row else None


def _full(reason: str) -> BuildPath:
    return BuildPath(FULL, reason)


def _changed_mappings(cur, prefix: str) -> str | None:
    """The first mapping whose old keys do not all keep their value, said with examples."""
    for name, (what, _, _) in MAPPINGS.items():
        cur.execute(
            f"""
            select count(*) over (), old.k, old.v, new.v
            from prev_{name} as old
            left join ({_mapping_sql(prefix, name)}) as new on old.k = new.k
            where new.v is distinct from old.v
            order by old.k
            limit 3
            """
        )
        rows = cur.fetchall()
        if rows:
            examples = "; ".join(
                f"{k} → {'gone' if new is None else new} (was {old})" for _, k, old, new in rows
            )
            return f"{rows[0][0]:,} {what}(s) of the last build now map elsewhere: {examples}"
    return None


def _order_line_state(cur, prefix: str) -> dict:
    """Rows, sum and largest id of ``order_line`` as it is now."""
    cur.execute(
        f'select count(*), coalesce(sum(id), 0), coalesce(max(id), 0) from "{prefix}marts".order_line'
    )
    n, total, max_id = cur.fetchone()
    return {"rows": n, "sum_id": str(total), "max_id": max_id}


def _runs_unit_tests(args: Sequence[str]) -> bool:
    """Whether ``dbt build ARGS`` runs the unit tests (not excluded, not left out of
    ``--resource-type``)."""
    if "unit_test" in _values(args, frozenset({"--exclude-resource-type"})):
        return False
    only = _values(args, frozenset({"--resource-type"}))
    return not only or "unit_test" in only or "all" in only


def _lines_check(cur, prefix: str, prev_as_of: date, as_of: date) -> tuple[str | None, int]:
    """Whether order_line holds exactly the raw lines up to its watermark dated up to the last
    as-of date, and no older line enters with the new as-of date; and how many lines are new."""
    cur.execute(
        f'select count(*), coalesce(sum(id), 0), coalesce(max(id), 0) from "{prefix}marts".order_line'
    )
    n_built, sum_built, watermark = cur.fetchone()
    cur.execute(
        """
        select
            count(*) filter (where id <= %(w)s and order_date <= %(prev)s),
            coalesce(sum(id) filter (where id <= %(w)s and order_date <= %(prev)s), 0),
            count(*) filter (where id <= %(w)s and order_date > %(prev)s and order_date <= %(now)s),
            count(*) filter (where id > %(w)s and order_date <= %(now)s)
        from raw.sales_line
        """,
        {"w": watermark, "prev": prev_as_of, "now": as_of},
    )
    n_raw, sum_raw, n_late, n_new = cur.fetchone()
    if n_raw < n_built:
        return (
            f"{n_built - n_raw:,} sales line(s) of the last build are gone (a deleted batch?)",
            0,
        )
    if n_raw > n_built:
        return (
            f"{n_raw - n_built:,} sales line(s) landed below the last build's watermark (id {watermark:,}) "
            "since it ran",
            0,
        )
    if sum_raw != sum_built:
        return "the sales lines below the last build's watermark are not the ones it built", 0
    if n_late:
        return (
            f"the as-of date moved from {prev_as_of} to {as_of}, taking in {n_late:,} line(s) loaded before",
            0,
        )
    return None, n_new


def decide(
    db: Database,
    cur,
    args: Sequence[str],
    project_env: Mapping[str, str],
    fingerprint: dict,
) -> BuildPath:
    """Full or incremental, and why. May rebuild the as-of date and the mapping tables (dbt run)."""
    if "--full-refresh" in args:
        return _full("--full-refresh was given")
    prefix = schema_prefix(args, project_env)
    last = _last_build(cur, prefix)
    if last is None:
        return _full("no earlier successful build of this warehouse is recorded")
    changed = [part for part, value in fingerprint.items() if last.get("project", {}).get(part) != value]
    if changed:
        return _full(f"changed since the last build: {', '.join(changed)}")
    needed = [(f"{prefix}marts", "order_line"), *((f"{prefix}intermediate", n) for n in MAPPINGS)]
    missing = [f"{s}.{t}" for s, t in needed if not _exists(cur, s, t)]
    if missing:
        return _full(f"missing: {', '.join(missing)}")
    if mapping_hashes(cur, prefix) != last.get("mappings"):
        return _full(
            "the mapping tables differ from the last successful build's (a build failed or ran partly since)"
        )
    order_line = _order_line_state(cur, prefix)
    if order_line != last.get("order_line"):
        return _full(
            "order_line is not the one the last successful build left (a build failed or ran partly since)"
        )
    for name in MAPPINGS:
        cur.execute(f"create temporary table prev_{name} as {_mapping_sql(prefix, name)}")
        cur.execute(f"analyze prev_{name}")
    run_dbt(
        db,
        ["run", "--select", *DECIDE_SELECT, *_option(args, CARRIED_OPTIONS)],
        capture=True,
        project_env=project_env,
    )
    prev_as_of, as_of = date.fromisoformat(last["as_of"]), _as_of(cur, prefix)
    if as_of < prev_as_of:
        return _full(f"the as-of date moved back from {prev_as_of} to {as_of}")
    why, n_new = _lines_check(cur, prefix, prev_as_of, as_of)
    if why:
        return _full(why)
    why = _changed_mappings(cur, prefix)
    if why:
        return _full(why)
    return BuildPath(
        INCREMENTAL,
        f"{n_new:,} new sales line(s) since the last build; no earlier line changes; recomputing the"
        f" customers with lines above id {order_line['max_id']:,}",
        after_id=order_line["max_id"],
        skip_unit_tests=bool(last.get("unit_tests_passed")) and _runs_unit_tests(args),
    )


def build_warehouse(
    db: Database,
    args: Sequence[str] = ("build",),
    *,
    capture: bool = False,
    project_env: Mapping[str, str] | None = None,
    on_node: Callable[[NodeDone], None] | None = None,
    on_path: Callable[[BuildPath], None] | None = None,
) -> BuildResult:
    """``dbt build ARGS`` of the whole project, incremental when that equals a cold build (see
    the module's docstring); ``on_path`` hears the path before dbt builds. The build and its
    fingerprint are recorded in ``reco.warehouse_build`` once dbt has succeeded."""
    if not is_whole_build(args):
        raise ValueError(f"build_warehouse: not a whole build: {' '.join(args)}")
    project_env = dict(project_env or {})
    prefix = schema_prefix(args, project_env)
    fingerprint = project_fingerprint(args)
    started = time.perf_counter()
    with psycopg_connect(db, autocommit=True) as conn, conn.cursor() as cur:
        path = decide(db, cur, args, project_env, fingerprint)
        if on_path is not None:
            on_path(path)
        if path.path == INCREMENTAL:
            env = {
                **project_env,
                "RECO_INCREMENTAL": "order_line",
                "RECO_INCREMENTAL_AFTER_ID": str(path.after_id),
            }
            build_args = [*args, *INCREMENTAL_EXCLUDE, *(NO_UNIT_TESTS if path.skip_unit_tests else [])]
        else:
            env, build_args = project_env, list(args)
        proc = run_dbt(db, build_args, capture=capture, project_env=env, on_node=on_node)
        seconds = time.perf_counter() - started
        state = {
            "project": fingerprint,
            "as_of": _as_of(cur, prefix).isoformat(),
            "mappings": mapping_hashes(cur, prefix),
            "order_line": _order_line_state(cur, prefix),
            # the unit tests passed on this project: by this build, or by the one whose
            # passing let this incremental build leave them out
            "unit_tests_passed": _runs_unit_tests(args),
        }
        cur.execute(
            "insert into reco.warehouse_build (schema_prefix, path, reason, state, seconds)"
            " values (%s, %s, %s, %s, %s)",
            (prefix, path.path, path.reason, json.dumps(state), seconds),
        )
    return BuildResult(path, seconds, proc)
