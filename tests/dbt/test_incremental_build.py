"""``reco dbt build`` after a change to the loaded data: incremental when only new lines came,
a full refresh when the change reaches back, and in every case the same marts, row for row, as a
cold build of the same data (built beside them with another schema prefix).

The data go through ``reco load`` (real batches, line keys and overlap handling). Amounts are
multiples of a quarter, so that sums in double precision do not depend on the order of the rows
(a cold build is not bit-stable against itself otherwise)."""

from __future__ import annotations

import json
from collections.abc import Iterator
from datetime import date, timedelta
from pathlib import Path

import psycopg
import pytest

from reco.db.target import Database
from reco.dbt.docs import dbt_target_dir
from reco.dbt.incremental import (
    FULL,
    INCREMENTAL,
    BuildPath,
    build_warehouse,
    decide,
    is_whole_build,
    project_fingerprint,
)
from reco.dbt.runner import run_dbt
from reco.ingest import load_files

NO_TESTS = ["--exclude-resource-type", "test", "--exclude-resource-type", "unit_test"]
NO_UNIT_TESTS = ["--exclude-resource-type", "unit_test"]  # they do not depend on the data
THREADS = ["--threads", "4"]
DAY0 = date(2025, 3, 1)
N_CUSTOMERS, N_PRODUCTS, LINES_PER_DAY = 30, 8, 12
#: Label-only lines with a label no product carries: unmapped until an alias maps it.
ORPHAN_LABEL = "House Red Special"
#: A product code sold but not in the catalogue (C03 and C04 buy it on day 5).
SALES_ONLY = "P09"


def _write(path: Path, header: str, rows: list[str]) -> Path:
    path.write_text(header + "\n" + "".join(f"{r}\n" for r in rows), encoding="utf-8")
    return path


def _day_lines(day: int, extra_customer: str | None = None) -> list[str]:
    d = DAY0 + timedelta(days=day)
    rows = []
    for k in range(LINES_PER_DAY):
        customer = f"C{1 + (day * 7 + k) % N_CUSTOMERS:02d}"
        product = 1 + (day + k) % N_PRODUCTS
        quantity = -1 if k == 5 and day % 3 == 0 else 1 + k % 3
        price = 5 + product * 1.25
        if k == 7:  # a label-only line
            rows.append(f"D{day}-{k},{d} 10:{k:02d},{customer},,{ORPHAN_LABEL},{quantity},{price}")
        else:
            rows.append(
                f"D{day}-{k},{d} 10:{k:02d},{customer},P{product:02d},Wine {product},{quantity},{price}"
            )
    if extra_customer:
        rows.append(f"D{day}-x,{d} 18:00,{extra_customer},P01,Wine 1,2,6.25")
    return rows


SALES_HEADER = "doc_ref,order_ts,customer_code,product_key,product_label,quantity,unit_price"


def _load_sales(db: Database, tmp: Path, name: str, days: range, **kw) -> str:
    rows = [r for day in days for r in _day_lines(day, **kw)]
    return load_files(db, "sales", [_write(tmp / f"{name}.csv", SALES_HEADER, rows)]).batch_id


@pytest.fixture(scope="module")
def warehouse(migrated_db, tmp_path_factory) -> Iterator[tuple[Database, Path]]:
    """Twenty days of sales, a catalogue and a customer file, loaded and built once (full)."""
    db, tmp = migrated_db, tmp_path_factory.mktemp("incremental")
    products = [f"P{i:02d},Wine {i},{'Red' if i % 2 else 'White'},{5 + i * 1.25}" for i in range(1, 9)]
    load_files(
        db, "products", [_write(tmp / "p.csv", "product_key,product_label,family_crm,unit_price", products)]
    )
    customers = [
        f"C{i:02d},c{i}@example.com,Name{i},{date(2020, 1, 1) + timedelta(days=i)},2025-01-01"
        for i in range(1, N_CUSTOMERS + 1)
    ]
    header = "customer_code,email,first_name,signup_date,updated_at"
    load_files(db, "customers", [_write(tmp / "c.csv", header, customers)])
    _load_sales(db, tmp, "days_00_19", range(20))
    # a product known only from sales (no catalogue row): its price band comes from its price
    rows = [f"D5-{c},{DAY0 + timedelta(days=5)} 12:00,{c},{SALES_ONLY},Wine 9,2,6.25" for c in ("C03", "C04")]
    load_files(db, "sales", [_write(tmp / "sales_only.csv", SALES_HEADER, rows)])
    first = build_warehouse(db, ["build", *THREADS, *NO_TESTS], capture=True)
    assert first.path.path == FULL and "no earlier" in first.path.reason
    yield db, tmp


def _rows(db: Database, sql: str) -> list[tuple]:
    with psycopg.connect(db.conninfo()) as conn:
        return conn.execute(sql).fetchall()


def _marts(db: Database, schema: str) -> list[str]:
    sql = f"select table_name from information_schema.tables where table_schema = '{schema}' order by 1"
    return [r[0] for r in _rows(db, sql)]


def assert_marts_equal_a_cold_build(db: Database) -> None:
    """Every table and view of ``marts`` has the same rows (as a multiset) as a cold build of the
    same data: the built marts are copied aside (schema ``built_marts``; a view could not stay
    aside, a rebuilt staging view drops it), a cold build replaces them, and the two are
    compared. The next case starts from that cold build, which is then known to be the same.
    (Same schema names throughout, so that dbt's partial parsing holds.)"""
    names = _marts(db, "marts")
    assert "order_line" in names
    with psycopg.connect(db.conninfo(), autocommit=True) as conn:
        conn.execute("drop schema if exists built_marts cascade")
        conn.execute("create schema built_marts")
        for name in names:
            conn.execute(f"create table built_marts.{name} as select * from marts.{name}")
    run_dbt(db, ["build", "--full-refresh", *THREADS, *NO_TESTS], capture=True)
    assert _marts(db, "marts") == names
    differing = {}
    for name in names:
        (n_rows, only_built, only_cold) = _rows(
            db,
            f"""
            select
                (select count(*) from built_marts.{name}),
                (select count(*) from (select t::text from built_marts.{name} as t
                    except all select t::text from marts.{name} as t) as a),
                (select count(*) from (select t::text from marts.{name} as t
                    except all select t::text from built_marts.{name} as t) as b)
            """,
        )[0]
        if only_built or only_cold:
            differing[name] = (n_rows, only_built, only_cold)
    assert differing == {}


def _build(db: Database, *extra: str):
    return build_warehouse(db, ["build", *THREADS, *extra], capture=True)


def _recorded(db: Database) -> list[tuple[str, str]]:
    return _rows(db, "select path, reason from reco.warehouse_build where schema_prefix = '' order by id")


# The cases run in order on one warehouse: each starts from the build of the one before. One
# test runs them, so that their order holds however the suite is distributed over workers.


def _a_new_day_is_built_incrementally_with_its_tests_and_equals_a_cold_build(warehouse):
    db, tmp = warehouse
    _load_sales(db, tmp, "day_20", range(20, 21), extra_customer="C99")
    result = _build(db, *NO_UNIT_TESTS)  # with the data tests: they pass on the appended order_line
    assert result.path.path == INCREMENTAL
    assert result.path.reason.startswith(f"{LINES_PER_DAY + 1} new sales line(s)")
    assert _recorded(db)[-1][0] == INCREMENTAL
    built = {
        r["unique_id"] for r in json.loads((dbt_target_dir() / "run_results.json").read_text())["results"]
    }
    # the deciding run built the mapping tables; the build leaves them out but runs their tests
    assert "model.reco.order_line" in built and "model.reco.int_sales_label_pairs" not in built
    assert any(u.startswith("test.reco.not_null_int_as_of_date_as_of_date") for u in built)
    assert_marts_equal_a_cold_build(db)


def _compiled(unique_id: str) -> str:
    results = json.loads((dbt_target_dir() / "run_results.json").read_text())["results"]
    return next(r["compiled_code"] for r in results if r["unique_id"] == unique_id)


def _profiles(db: Database, codes: tuple[str, ...]) -> dict[str, tuple]:
    rows = _rows(
        db,
        "select customer_code, top_family_1, concat_ws(',', top_budget_1, top_budget_2, top_budget_3),"
        " m_score from marts.client_master_profile"
        f" where customer_code in {codes!r}",
    )
    return {r[0]: r[1:] for r in rows}


def _a_changed_product_and_a_price_moving_band_rebuild_their_buyers_incrementally(warehouse):
    """A new day whose only line moves the typical price of a sales-only product into another
    band (C03 and C04, who bought it earlier and nothing that day, change budget) and whose
    buyer (C05) moves up the money quintiles; and a catalogue export that moves P02 from White
    to Rosé (its buyers' family shares change). Nothing earlier maps elsewhere: incremental, and
    the customer-grain models recompute those buyers, not everyone."""
    db, tmp = warehouse
    before = _profiles(db, ("C03", "C04", "C05"))
    day = DAY0 + timedelta(days=20)
    rows = [f"D20-p9,{day} 11:00,C05,{SALES_ONLY},Wine 9,10,50.0"]
    _write(tmp / "day_20_sales_only.csv", SALES_HEADER, rows)
    load_files(db, "sales", [tmp / "day_20_sales_only.csv"])
    header = "product_key,product_label,family_crm,unit_price"
    load_files(db, "products", [_write(tmp / "p2.csv", header, ["P02,Wine 2,Rosé,7.5"])])
    result = _build(db, *NO_TESTS)
    assert result.path.path == INCREMENTAL, result.path.reason
    assert result.path.reason.startswith("1 new sales line(s)")
    changed = _rows(
        db,
        "select product_key, family_crm, price_band from intermediate.int_product_profile_attributes"
        " where build_id = (select max(build_id) filter (where product_key = 'P02')"
        " from intermediate.int_product_profile_attributes) order by 1",
    )
    assert changed == [("P02", "Rosé", "under_10"), (SALES_ONLY, None, "40_80")]
    # the profiles were recomputed for some customers only (the incremental SQL ran)
    shares = _compiled("model.reco.int_customer_attribute_shares")
    assert "customer_code in (" in shares and "changed.build_id" in shares
    assert "new_lines.id >" in _compiled("model.reco.int_customer_rfm")
    after = _profiles(db, ("C03", "C04", "C05"))
    for c in ("C03", "C04"):  # bought it earlier, nothing that day: their budgets move all the same
        assert "40_80" not in before[c][1] and "40_80" in after[c][1], (before, after)
    assert (before["C05"][2], after["C05"][2]) == (2, 5), (before, after)
    assert_marts_equal_a_cold_build(db)


def _a_new_email_linking_two_codes_forces_a_full_refresh(warehouse):
    db, tmp = warehouse
    header = "customer_code,email,first_name,signup_date,updated_at"
    load_files(
        db,
        "customers",
        [_write(tmp / "merge.csv", header, ["C02,c1@example.com,Name2,2020-01-03,2025-03-25"])],
    )
    result = _build(db, *NO_TESTS)
    assert result.path.path == FULL
    assert "customer code" in result.path.reason and "C02" in result.path.reason
    assert _rows(
        db, "select customer_code from marts.customer_code_map where source_customer_code = 'C02'"
    ) == [("C01",)]
    assert_marts_equal_a_cold_build(db)


def _a_new_alias_remapping_old_labels_forces_a_full_refresh(warehouse):
    db, tmp = warehouse
    load_files(db, "aliases", [_write(tmp / "alias.csv", "alias_label,product_key", [f"{ORPHAN_LABEL},P03"])])
    result = _build(db, *NO_TESTS)
    assert result.path.path == FULL
    assert "sales (product code, label)" in result.path.reason and ORPHAN_LABEL in result.path.reason
    assert _rows(
        db, f"select distinct product_key from marts.order_line where product_label = '{ORPHAN_LABEL}'"
    ) == [("P03",)]
    assert_marts_equal_a_cold_build(db)


def _a_reloaded_overlapping_export_appends_only_its_new_lines(warehouse):
    db, tmp = warehouse
    (before,) = _rows(db, "select count(*) from marts.order_line")[0]
    _load_sales(db, tmp, "days_19_21", range(19, 22))  # days 19 and 20 are there already
    result = _build(db, *NO_TESTS)
    assert result.path.path == INCREMENTAL
    assert result.path.reason.startswith(f"{LINES_PER_DAY} new sales line(s)")
    assert _rows(db, "select count(*) from marts.order_line") == [(before + LINES_PER_DAY,)]
    assert_marts_equal_a_cold_build(db)


def _a_deleted_batch_forces_a_full_refresh(warehouse):
    db, _ = warehouse
    with psycopg.connect(db.conninfo()) as conn:
        (batch,) = conn.execute(
            "select batch_id from raw.sales_line where order_date = %s limit 1", (DAY0,)
        ).fetchone()
        conn.execute("delete from raw.sales_line where batch_id = %s", (batch,))
        conn.execute("delete from raw.load_file where batch_id = %s", (batch,))
        conn.execute("delete from raw.load_batch where batch_id = %s", (batch,))
    result = _build(db, *NO_TESTS)
    assert result.path.path == FULL and "gone" in result.path.reason
    assert_marts_equal_a_cold_build(db)


def _a_changed_setting_or_an_as_of_date_moved_back_forces_a_full_refresh(warehouse):
    db, _ = warehouse
    with psycopg.connect(db.conninfo(), autocommit=True) as conn, conn.cursor() as cur:
        args = ["build", "--vars", "{popularity_window_days: 60}"]
        path = decide(db, cur, args, {}, project_fingerprint(args))
        assert path == BuildPath(FULL, "changed since the last build: vars")
        args = ["build"]
        path = decide(db, cur, args, {"RECO_AS_OF_DATE": "2025-03-10"}, project_fingerprint(args))
        assert path.path == FULL and "as-of date moved back from 2025-03-22 to 2025-03-10" in path.reason


def test_each_change_takes_its_path_and_the_marts_equal_a_cold_build(warehouse):
    """A new day (incremental), a changed product and a price moving band (incremental), a new
    e-mail merging two codes (full), a new alias (full), a
    re-loaded overlapping export (incremental), a deleted batch (full), then a changed setting
    or an as-of date moved back (full): each after the one before."""
    _a_new_day_is_built_incrementally_with_its_tests_and_equals_a_cold_build(warehouse)
    _a_changed_product_and_a_price_moving_band_rebuild_their_buyers_incrementally(warehouse)
    _a_new_email_linking_two_codes_forces_a_full_refresh(warehouse)
    _a_new_alias_remapping_old_labels_forces_a_full_refresh(warehouse)
    _a_reloaded_overlapping_export_appends_only_its_new_lines(warehouse)
    _a_deleted_batch_forces_a_full_refresh(warehouse)
    _a_changed_setting_or_an_as_of_date_moved_back_forces_a_full_refresh(warehouse)


def test_a_failed_build_leaves_no_record_and_a_partial_one_is_passed_through(warehouse):
    db, _ = warehouse
    assert not is_whole_build(["build", "--select", "marts.platform"])
    assert is_whole_build(["build", "--threads", "2", *NO_TESTS])
    before = _recorded(db)
    with pytest.raises(Exception, match="dbt build failed"):
        _build(db, *NO_TESTS, "--vars", "{customer_dedupe_rounds: not_a_number}")
    assert _recorded(db) == before


def test_a_build_on_another_engine_is_passed_through_as_a_full_build():
    """`reco dbt build --target spark`: this module's state lives in PostgreSQL, so a build on
    Spark goes to dbt as it is (order_line rebuilt in full there)."""
    assert not is_whole_build(["build", "--target", "spark"])
    assert not is_whole_build(["build", "-t", "spark", "--threads", "2"])
    assert not is_whole_build(["build", "--target=spark"])
    assert is_whole_build(["build", "--target", "default"])
