"""Benchmark: the full dbt build of the warehouse on generated raw data.

One command:

    uv run python bench/dbt_build.py                      # 1 M customers, 10 M sales lines
    uv run python bench/dbt_build.py --lines 1000000 --lines 3000000   # growth

For each size it creates a scratch database on the resolved server (the embedded one unless
DATABASE_URL says otherwise), migrates it, fills the raw tables in SQL (generate_series: one
customer per 10 lines with 5 % shared e-mails and a second batch, a 3,000-wine catalogue, label
variants, unknown labels, returns), then runs `dbt build` (seeds, models, data tests, unit
tests) through `reco dbt build`'s path (a cold build: nothing recorded yet), adds one more day
of sales (0.3 % of the lines, `--day-share`) and builds again (incremental), and prints the time
per model of both from run_results.json. The reference, measured in the same run, is a plain
copy of raw.sales_line (`create table as select *`): the cost of reading and writing the lines
once. The scratch database is dropped at the end (--keep to keep it).
"""

from __future__ import annotations

import hashlib
import json
import os
import time
import uuid
from pathlib import Path
from typing import Annotated

import psycopg
import typer
from rich.console import Console
from rich.table import Table

from reco.db import migrate
from reco.db.resolver import resolve
from reco.db.target import Database
from reco.dbt.docs import dbt_target_dir
from reco.dbt.incremental import build_warehouse

console = Console()

GENERATE = """
insert into raw.load_batch (batch_id, entity, status, files, rows_read, rows_loaded,
    rows_rejected, rows_duplicate, options)
values ('bench_c1', 'customers', 'succeeded', '[]', 0, 0, 0, 0, '{{}}'),
       ('bench_c2', 'customers', 'succeeded', '[]', 0, 0, 0, 0, '{{}}'),
       ('bench_p1', 'products', 'succeeded', '[]', 0, 0, 0, 0, '{{}}'),
       ('bench_s1', 'sales', 'succeeded', '[]', 0, 0, 0, 0, '{{}}');

-- a catalogue of wines with attributes (every 10th without aromas)
insert into raw.product (product_key, product_label, family_crm, cepage, sucrosite_niveau,
    price_band, premium_tier, unit_price, aroma_fruity, aroma_floral, aroma_spicy, aroma_herbal,
    aroma_mineral, aroma_woody, aroma_toasty, is_active, season_tags, batch_id, source_file,
    source_row)
select
    'W' || lpad(i::text, 5, '0'),
    'Cuvée ' || i || ' ' || (array['Bordeaux', 'Bourgogne', 'Loire', 'Rhône', 'Alsace'])[1 + i % 5]
        || ' ' || (2010 + i % 12),
    (array['Red', 'White', 'Rosé', 'Sparkling', 'Sweet', 'Fortified'])[1 + i % 6],
    (array['Merlot', 'Syrah', 'Chardonnay', 'Pinot Noir', 'Grenache', 'Riesling',
        'Sauvignon Blanc'])[1 + i % 7],
    (array['dry', 'off_dry', 'medium', 'sweet'])[1 + (i / 7) % 4],
    null, null,
    5 + (i * 37) % 120,
    case when i % 10 <> 0 then 1 + i % 5 end,
    case when i % 10 <> 0 then 1 + (i / 2) % 5 end,
    case when i % 10 <> 0 then 1 + (i / 3) % 5 end,
    case when i % 10 <> 0 then 1 + (i / 5) % 5 end,
    case when i % 10 <> 0 then 1 + (i / 7) % 5 end,
    case when i % 10 <> 0 then 1 + (i / 11) % 5 end,
    case when i % 10 <> 0 then 1 + (i / 13) % 5 end,
    i % 50 <> 0,
    case when i % 4 = 0 then '["christmas"]'::jsonb end,
    'bench_p1', 'bench', i
from generate_series(1, {products}) as i;

-- customers: 5 % share an e-mail with the previous code; 10 % appear again in batch 2
insert into raw.customer (customer_code, email, first_name, last_name, country,
    is_contactable, is_bounced, is_optout, signup_date, updated_at, batch_id, source_file,
    source_row)
select
    'C' || i,
    'user' || (case when i % 20 = 0 then i - 1 else i end) || '@example.com',
    'First' || i, 'Last' || i, 'FR',
    true, i % 97 = 0, i % 53 = 0,
    date '2015-01-01' + (i % 3000),
    timestamp '2023-01-01' + (i % 365) * interval '1 day',
    'bench_c1', 'bench', i
from generate_series(1, {customers}) as i;

insert into raw.customer (customer_code, email, first_name, last_name, country,
    is_contactable, is_bounced, is_optout, signup_date, updated_at, batch_id, source_file,
    source_row)
select
    'C' || i, 'USER' || i || '@Example.com ', 'First' || i, 'Last' || i, 'FR',
    true, false, i % 7 = 0,
    date '2015-01-01' + (i % 3000), timestamp '2024-06-01', 'bench_c2', 'bench', i
from generate_series(10, {customers}, 10) as i;

-- sales lines: 3 lines per order; 90 % carry the code, 8 % only a label variant, 2 % an
-- unknown label; 2 % returns
insert into raw.sales_line (line_key, doc_ref, order_date, customer_code, product_key,
    product_label, quantity, unit_price, amount_ht, line_type, batch_id, file_no, source_row)
select
    md5('L' || i)::uuid,
    'D' || (i / 3),
    date '2022-01-01' + ((i / 3) * 7919 % 900)::integer,
    'C' || (1 + ((i / 3) * 104729) % {customers}),
    case when i % 50 < 45 then 'W' || lpad(p::text, 5, '0') end,
    case
        when i % 50 < 45 then 'Cuvée ' || p
        when i % 50 < 49 then upper('Cuvee ' || p || ' 75cl')
        else 'MYSTERY WINE ' || (i % 997)
    end,
    case when i % 50 = 7 then -1 else 1 + i % 3 end,
    5 + (p * 37) % 120,
    (case when i % 50 = 7 then -1 else 1 + i % 3 end) * (5 + (p * 37) % 120),
    case when i % 50 = 7 then 'return' else 'sale' end,
    'bench_s1', 1, i
from (
    select i, 1 + (i * 7907) % {products} as p
    from generate_series(1::bigint, {lines}::bigint) as i
) as g;

analyze;
"""

VACUUM = "vacuum (freeze, analyze)"

#: One more day of sales after the build: {day_lines} lines (0.3 % of the lines by default)
#: dated the day after the latest, in a new batch, for the incremental build.
NEXT_DAY = """
insert into raw.load_batch (batch_id, entity, status, files, rows_read, rows_loaded,
    rows_rejected, rows_duplicate, options)
values ('bench_s2', 'sales', 'succeeded', '[]', 0, 0, 0, 0, '{{}}');

insert into raw.sales_line (line_key, doc_ref, order_date, customer_code, product_key,
    product_label, quantity, unit_price, amount_ht, line_type, batch_id, file_no, source_row)
select
    md5('N' || i)::uuid,
    'N' || (i / 3),
    (select max(order_date) + 1 from raw.sales_line),
    'C' || (1 + ((i / 3) * 104729) % {customers}),
    case when i % 50 < 45 then 'W' || lpad(p::text, 5, '0') end,
    case when i % 50 < 45 then 'Cuvée ' || p else upper('Cuvee ' || p || ' 75cl') end,
    1 + i % 3,
    5 + (p * 37) % 120,
    (1 + i % 3) * (5 + (p * 37) % 120),
    'sale',
    'bench_s2', 1, i
from (
    select i, 1 + (i * 7907) % {products} as p
    from generate_series(1::bigint, {day_lines}::bigint) as i
) as g;

analyze raw.sales_line;
"""


def _admin(db: Database) -> Database:
    return db.for_database("postgres")


def _exec(db: Database, sql: str, autocommit: bool = False) -> float:
    start = time.perf_counter()
    with psycopg.connect(db.conninfo(), autocommit=autocommit) as conn:
        conn.execute(sql)
    return time.perf_counter() - start


def _exists(server: Database, name: str) -> bool:
    with psycopg.connect(_admin(server).conninfo()) as conn:
        row = conn.execute("select 1 from pg_database where datname = %s", (name,)).fetchone()
    return row is not None


def _template(server: Database, lines: int, customers: int, products: int) -> tuple[str, float]:
    """The cached raw data of one size: (template database, seconds spent generating it now)."""
    key = f"{GENERATE}|{VACUUM}|{lines}|{customers}|{products}|{migrate.head_revision()}"
    name = f"reco_bench_tpl_{lines}_{hashlib.sha256(key.encode()).hexdigest()[:8]}"
    if _exists(server, name):
        return name, 0.0
    building = f"{name}_building"
    admin = _admin(server)
    _exec(admin, f'drop database if exists "{building}" with (force)', autocommit=True)
    _exec(admin, f'create database "{building}"', autocommit=True)
    db = server.for_database(building)
    migrate.upgrade(db)
    console.print(f"[bold]{lines:,} lines[/]: generating raw data into the cache {name} …")
    gen_s = _exec(db, GENERATE.format(lines=lines, customers=customers, products=products))
    # Hint bits and the visibility map set once here: otherwise whichever statement reads the
    # lines first in each copy (the reference copy) pays for writing them.
    gen_s += _exec(db, VACUUM, autocommit=True)
    # renamed only once complete: an interrupted generation is never taken for a cache
    _exec(admin, f'alter database "{building}" rename to "{name}"', autocommit=True)
    return name, gen_s


def _one_size(
    server: Database, lines: int, customers: int, products: int, keep: bool, cache: bool, day_share: float
) -> dict:
    name = f"reco_bench_{uuid.uuid4().hex[:8]}"
    db = server.for_database(name)
    if cache:
        template, gen_s = _template(server, lines, customers, products)
        _exec(_admin(server), f'create database "{name}" template "{template}"', autocommit=True)
    else:
        _exec(_admin(server), f'create database "{name}"', autocommit=True)
    try:
        if not cache:
            migrate.upgrade(db)
            console.print(f"[bold]{lines:,} lines[/]: generating raw data in {name} …")
            gen_s = _exec(db, GENERATE.format(lines=lines, customers=customers, products=products))
            gen_s += _exec(db, VACUUM, autocommit=True)
        ref_s = _exec(db, "create table public.bench_copy as select * from raw.sales_line")
        _exec(db, "drop table public.bench_copy")
        console.print(
            f"  {name}: generated in {gen_s:.0f} s (0: cached); reference copy {ref_s:.1f} s; dbt build …"
        )
        start = time.perf_counter()
        cold = build_warehouse(db, ["build"], capture=True)
        build_s = time.perf_counter() - start
        results = json.loads((dbt_target_dir() / "run_results.json").read_text())
        day_lines = max(1, round(lines * day_share))
        _exec(db, NEXT_DAY.format(day_lines=day_lines, customers=customers, products=products))
        console.print(f"  {cold.path.line()}: {build_s:.1f} s; {day_lines:,} more lines; dbt build again …")
        start = time.perf_counter()
        decided: list[float] = []
        incremental = build_warehouse(
            db, ["build"], capture=True, on_path=lambda _: decided.append(time.perf_counter() - start)
        )
        incremental_s = time.perf_counter() - start
        console.print(
            f"  {incremental.path.line()}: {incremental_s:.1f} s"
            f" (deciding, with its dbt run: {decided[0]:.1f} s;"
            f" the build: {incremental_s - decided[0]:.1f} s)"
        )
        inc_results = json.loads((dbt_target_dir() / "run_results.json").read_text())
        return {
            "lines": lines,
            "customers": customers,
            "generate_s": gen_s,
            "reference_s": ref_s,
            "build_s": build_s,
            "day_lines": day_lines,
            "incremental_path": incremental.path.path,
            "incremental_s": incremental_s,
            "incremental_decide_s": decided[0],
            "nodes": [(r["unique_id"], r["execution_time"], r["status"]) for r in results["results"]],
            "incremental_nodes": [
                (r["unique_id"], r["execution_time"], r["status"]) for r in inc_results["results"]
            ],
        }
    finally:
        if not keep:
            _exec(_admin(server), f'drop database if exists "{name}" with (force)', autocommit=True)


def _load() -> str:
    return " / ".join(f"{x:.2f}" for x in os.getloadavg())


def _name(unique_id: str) -> str:
    """The node's name: a generic test's id ends in a hash, a singular test's and a model's not."""
    parts = unique_id.split(".")
    generic_test = parts[0] == "test" and len(parts) > 3
    return parts[-2] if generic_test else parts[-1]


def _kind(unique_id: str) -> str:
    return unique_id.split(".")[0]


def main(
    lines: Annotated[list[int] | None, typer.Option(help="Sales lines (repeat for several sizes).")] = None,
    customers_per_line: Annotated[float, typer.Option(help="Customers per sales line.")] = 0.1,
    products: Annotated[int, typer.Option(help="Catalogue size.")] = 3000,
    top: Annotated[int, typer.Option(help="Slowest nodes to list.")] = 20,
    keep: Annotated[bool, typer.Option(help="Keep the scratch databases.")] = False,
    cache: Annotated[bool, typer.Option(help="Reuse the generated raw data of a size.")] = True,
    day_share: Annotated[
        float, typer.Option(help="Lines of the extra day, as a share of the lines.")
    ] = 0.003,
) -> None:
    sizes = lines or [10_000_000]
    # The benchmark's dbt artefacts stay apart from the project's target/.
    os.environ.setdefault("DBT_TARGET_PATH", str(Path(__file__).parent / "out" / "target"))
    server = resolve()
    console.print(f"server: {server.masked}; load average {_load()} at the start")
    runs = [
        _one_size(server, n, int(n * customers_per_line), products, keep, cache, day_share) for n in sizes
    ]
    out = Path(__file__).parent / "out" / "dbt_build.json"
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text(json.dumps(runs, indent=1))

    for run in runs:
        for build, nodes in (("cold", run["nodes"]), ("incremental", run["incremental_nodes"])):
            table = Table(
                "node",
                "kind",
                "seconds",
                "share",
                title=f"slowest nodes, {build} build, {run['lines']:,} lines, {run['customers']:,} customers",
            )
            total = sum(t for _, t, _ in nodes)
            for uid, secs, _status in sorted(nodes, key=lambda n: -n[1])[:top]:
                table.add_row(_name(uid), _kind(uid), f"{secs:.1f}", f"{secs / total:.0%}")
            console.print(table)

    summary = Table(
        "lines",
        "customers",
        "reference copy s",
        "models s",
        "tests s",
        "dbt build s",
        "build / reference",
        "build s per M lines",
        "+1 day lines",
        "incremental s",
        "incremental / cold",
        title="dbt build (seeds + models + data tests + unit tests), wall clock; then one more day",
    )
    for run in runs:
        models = sum(t for u, t, _ in run["nodes"] if _kind(u) in ("model", "seed"))
        tests = sum(t for u, t, _ in run["nodes"] if _kind(u) in ("test", "unit_test"))
        summary.add_row(
            f"{run['lines']:,}",
            f"{run['customers']:,}",
            f"{run['reference_s']:.1f}",
            f"{models:.1f}",
            f"{tests:.1f}",
            f"{run['build_s']:.1f}",
            f"{run['build_s'] / run['reference_s']:.1f}x",
            f"{run['build_s'] / (run['lines'] / 1e6):.1f}",
            f"{run['day_lines']:,}",
            f"{run['incremental_s']:.1f} ({run['incremental_path']})",
            f"{run['incremental_s'] / run['build_s']:.0%}",
        )
    console.print(summary)
    console.print(f"load average {_load()} at the end")
    console.print(
        "targets: cold build of 10 M lines ≤ 25x the reference copy; incremental ≤ 10 % of the cold build;"
        " growth no faster than linear"
    )


if __name__ == "__main__":
    typer.run(main)
