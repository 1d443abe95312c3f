"""``reco load`` killed with SIGKILL at several points of its one transaction, and a load
running while a score reads: nothing partial is ever visible, and the rerun lands exactly what
an uninterrupted load lands. The points are reached deterministically by holding, from the
test, the lock the loader needs next."""

from __future__ import annotations

import signal
from datetime import timedelta

import polars as pl
import psycopg
import pytest

from reco.db import migrate
from tests.faults.conftest import one, rows, wait_for

LANDED = """select line_key, doc_ref, order_date, customer_code, product_key, product_label,
                   quantity, unit_price, amount_ht, line_type
            from raw.sales_line order by line_key"""

#: (what the test holds, the loader's query it blocks): the loader waits, in this order, for
#: the entity's lock (nothing read yet), to write the sales lines (file read, typed and keyed),
#: and to record its batch (every line written, uncommitted).
POINTS = {
    "entity_lock": ("select pg_advisory_lock(hashtext('reco.load.sales'))", "pg_advisory_xact_lock"),
    "writing_lines": ("lock table raw.sales_line in share mode", "sales_line"),
    "recording_batch": ("lock table raw.load_batch in share mode", "load_batch"),
}


def _empty_db(fault_server):
    db = fault_server.fresh_empty()
    migrate.upgrade(db)
    return db


def _sales_file(fault_server):
    names = sorted(p for p in fault_server.data_dir.glob("sales_*.csv"))
    assert names, "the demo exports have no sales file"
    return names[0]


def _waiting(db, query_part: str) -> bool:
    return (
        one(
            db,
            "select count(*) from pg_stat_activity where datname = current_database()"
            " and wait_event_type = 'Lock' and query ilike %s",
            (f"%{query_part}%",),
        )
        > 0
    )


def _nothing_landed(db) -> None:
    assert one(db, "select count(*) from raw.sales_line") == 0
    assert one(db, "select count(*) from raw.load_batch") == 0
    assert one(db, "select count(*) from raw.reject") == 0
    assert one(db, "select count(*) from raw.load_file") == 0


@pytest.fixture
def reference(fault_server):
    """What an uninterrupted load of the file lands."""
    db = _empty_db(fault_server)
    result = fault_server.reco(db, "load", "sales", str(_sales_file(fault_server)))
    assert result.returncode == 0, result.stderr
    landed = rows(db, LANDED)
    assert landed
    yield landed
    fault_server.drop(db)


@pytest.mark.parametrize("point", list(POINTS))
def test_kill_9_of_a_load_leaves_nothing_and_the_rerun_lands_what_an_uninterrupted_load_does(
    fault_server, reference, point
):
    db = _empty_db(fault_server)
    hold, blocked_query = POINTS[point]
    try:
        with psycopg.connect(db.conninfo()) as holder:
            holder.execute(hold)
            proc = fault_server.popen(db, "load", "sales", str(_sales_file(fault_server)))
            wait_for(lambda: _waiting(db, blocked_query), f"the load to block ({point})")
            proc.send_signal(signal.SIGKILL)
            proc.wait(timeout=30)
            holder.rollback()
            if point == "entity_lock":
                holder.execute("select pg_advisory_unlock_all()")
        wait_for(lambda: not _waiting(db, blocked_query), "the server to end the dead session")
        _nothing_landed(db)
        rerun = fault_server.reco(db, "load", "sales", str(_sales_file(fault_server)))
        assert rerun.returncode == 0, rerun.stderr
        assert rows(db, LANDED) == reference
        assert one(db, "select count(*) from raw.load_batch where status = 'succeeded'") == 1
    finally:
        fault_server.drop(db)


def test_kill_9_of_a_parquet_load_leaves_no_file_a_reader_sees_and_the_rerun_lands_the_same_lines(
    fault_server, reference, tmp_path
):
    """``reco load sales --parquet``, killed with every line written to its file but the batch
    not committed: no row is visible in a ``*.parquet`` file (the lines are only in the hidden
    temporary one; each raw table has its zero-row file), nothing is recorded, and the rerun
    resolves the leftover and lands exactly the reference's lines."""
    db = _empty_db(fault_server)
    lake, export = tmp_path / "lake", str(_sales_file(fault_server))
    try:
        with psycopg.connect(db.conninfo()) as holder:
            holder.execute("lock table raw.load_batch in share mode")
            proc = fault_server.popen(db, "load", "sales", export, "--parquet", str(lake))
            wait_for(lambda: _waiting(db, "load_batch"), "the load to record its batch")
            assert list(lake.glob("sales_line/.*.parquet.tmp"))  # its lines are in the temporary file
            proc.send_signal(signal.SIGKILL)
            proc.wait(timeout=30)
            holder.rollback()
        wait_for(lambda: not _waiting(db, "load_batch"), "the server to end the dead session")
        _nothing_landed(db)
        # what Spark would read: no row (each raw table's zero-row file of its schema, no batch)
        visible = list(lake.rglob("*.parquet"))
        assert {p.name for p in visible} == {"empty.parquet"}
        assert sum(pl.scan_parquet(p).select(pl.len()).collect().item() for p in visible) == 0
        rerun = fault_server.reco(db, "load", "sales", export, "--parquet", str(lake))
        assert rerun.returncode == 0, rerun.stderr
        assert not list(lake.rglob("*.tmp"))
        columns = [c.strip().split()[0] for c in LANDED.split("select")[1].split("from")[0].split(",")]
        landed = pl.read_parquet(list(lake.glob("sales_line/*.parquet"))).select(columns).sort("line_key")
        assert [tuple(map(str, r)) for r in landed.iter_rows()] == [tuple(map(str, r)) for r in reference]
        assert one(db, "select count(*) from raw.sales_line") == 0
    finally:
        fault_server.drop(db)


def test_a_score_during_a_load_sees_none_of_its_uncommitted_rows(fault_server, fault_db, score_day, tmp_path):
    db = fault_db
    base = fault_server.reco(db, "score", "--run-id", "base", "--as-of", str(score_day))
    assert base.returncode == 0, base.stderr
    silenced = [c for (c,) in rows(db, "select distinct customer_code from reco.reco_item limit 5")]
    contacts = tmp_path / "contacts_during.csv"
    contacts.write_text(
        "customer_code,contact_date,channel\n"
        + "".join(f"{c},{score_day - timedelta(days=1)},email\n" for c in silenced)
    )
    with psycopg.connect(db.conninfo()) as holder:
        holder.execute("lock table raw.load_batch in share mode")
        load = fault_server.popen(db, "load", "contacts", str(contacts))
        wait_for(lambda: _waiting(db, "load_batch"), "the load to hold its rows, uncommitted")
        during = fault_server.reco(db, "score", "--run-id", "during", "--as-of", str(score_day))
        holder.rollback()
    assert load.wait(timeout=120) == 0, load.stderr.read()
    assert during.returncode == 0, during.stderr
    items = "select customer_code, scenario, rank, product_key from reco.reco_item"
    items += " where run_id = %s order by 1, 3"
    assert rows(db, items, ("during",)) == rows(db, items, ("base",))  # the uncommitted contacts unseen
    after = fault_server.reco(db, "score", "--run-id", "after", "--as-of", str(score_day))
    assert after.returncode == 0, after.stderr
    assert (
        one(
            db,
            "select count(*) from reco.reco_item where run_id = 'after' and customer_code = any(%s)",
            (silenced,),
        )
        == 0
    )
