import hashlib
import json

import pytest
from sqlalchemy import inspect, text

from reco.db import migrate
from reco.db.engine import make_engine


def test_upgrade_creates_every_table_python_writes(empty_db):
    migrate.upgrade(empty_db)
    tables = set(migrate.owned_tables(empty_db))
    assert {
        "raw.load_batch",
        "raw.customer",
        "raw.sales_line",
        "raw.product",
        "raw.product_alias",
        "raw.contact",
        "raw.reject",
        "reco.reco_run",
        "reco.reco_item",
        "reco.audit_item",
        "reco.contact_event",
        "reco.outcome_event",
    } <= tables


def test_spec_indexes_exist_after_upgrade(db):
    insp = inspect(make_engine(db))
    names = {i["name"] for i in insp.get_indexes("reco_item", schema="reco")}
    names |= {i["name"] for i in insp.get_indexes("audit_item", schema="reco")}
    names |= {i["name"] for i in insp.get_indexes("contact_event", schema="reco")}
    assert {"ix_reco_run_customer", "ix_audit_run_customer", "ix_contact_customer_date"} <= names


def test_round_trip_upgrade_downgrade_upgrade(empty_db):
    migrate.upgrade(empty_db)
    migrate.downgrade(empty_db, "base")
    assert migrate.owned_tables(empty_db) == []
    assert migrate.current_revision(empty_db) is None
    migrate.upgrade(empty_db)
    assert migrate.current_revision(empty_db) == migrate.head_revision()


def test_autogenerate_sees_no_drift_and_ignores_other_schemas(db):
    from alembic.autogenerate import compare_metadata
    from alembic.runtime.migration import MigrationContext

    from reco.db.models import Base, include_name

    engine = make_engine(db)
    with engine.begin() as conn:
        # a dbt-built table in a schema Alembic does not own must never show up as drift
        conn.execute(text("create schema marts"))
        conn.execute(text("create table marts.customer (customer_code text primary key)"))
        ctx = MigrationContext.configure(
            conn,
            opts={"include_schemas": True, "include_name": include_name, "compare_type": True},
        )
        diff = compare_metadata(ctx, Base.metadata)
    assert diff == []


def _old_key(*parts: str) -> str:
    """raw.sales_line.line_key before migration 0007: the hex sha256 of the key text."""
    return hashlib.sha256("\x1f".join(parts).encode()).hexdigest()


def test_0007_narrows_sales_lines_and_its_downgrade_restores_them_exactly(empty_db):
    migrate.upgrade(empty_db, "0006")
    line = ["F1", "P1", "C1", "2024-01-05T10:00:00", "1.0000", "12.5000"]
    # the same line twice on one invoice of a.csv (occurrences 1, 2), a third time in b.csv
    # of a later batch (occurrence 3: its 1 and 2 were duplicates), and a label-only line
    label_line = ["F2", "label:côte rôtie", "C2", "2024-01-06", "2.0000", "9.9900"]
    landed = [
        ("b1", "a.csv", 1, "P1", None, _old_key(*line, "1")),
        ("b1", "a.csv", 2, "P1", None, _old_key(*line, "2")),
        ("b2", "b.csv", 7, "P1", None, _old_key(*line, "3")),
    ]
    engine = make_engine(empty_db)
    with engine.begin() as conn:
        for batch, path, at in (("b1", "a.csv", "2024-02-01"), ("b2", "b.csv", "2024-03-01")):
            files = json.dumps([{"path": path, "sha256": "ab" * 32, "bytes": 10}])
            conn.execute(
                text(
                    "insert into raw.load_batch (batch_id, entity, status, files, rows_read, rows_loaded,"
                    " rows_rejected, rows_duplicate, options, started_at)"
                    " values (:b, 'sales', 'succeeded', cast(:f as jsonb), 0, 0, 0, 0, '{}', :at)"
                ),
                {"b": batch, "f": files, "at": at},
            )
        insert = (
            "insert into raw.sales_line (line_key, doc_ref, order_date, order_ts, customer_code,"
            " product_key, product_label, quantity, unit_price, amount_ht, line_type, batch_id,"
            " source_file, source_row, loaded_at) values (:k, :doc, :d, :ts, :c, :p, :label,"
            " :q, :u, :q * :u, 'sale', :b, :f, :r, :at)"
        )
        for batch, path, row, product, label, key in landed:
            conn.execute(
                text(insert),
                {"k": key, "doc": "F1", "d": "2024-01-05", "ts": "2024-01-05 10:00:00", "c": "C1",
                 "p": product, "label": label, "q": 1, "u": 12.5, "b": batch, "f": path, "r": row,
                 "at": "2024-02-01 12:00+00" if batch == "b1" else "2024-03-01 12:00+00"},
            )  # fmt: skip
        conn.execute(
            text(insert),
            {"k": _old_key(*label_line, "1"), "doc": "F2", "d": "2024-01-06", "ts": None, "c": "C2",
             "p": None, "label": "Côte  Rôtie", "q": 2, "u": 9.99, "b": "b2", "f": "b.csv", "r": 8,
             "at": "2024-03-01 12:00+00"},
        )  # fmt: skip
    before = _sales_lines(engine, "line_key, batch_id, source_file, source_row, loaded_at")

    migrate.upgrade(empty_db)
    after = _sales_lines(
        engine,
        "replace(line_key::text, '-', ''), batch_id, file_no, source_file, source_row, loaded_at",
        table="raw.sales_line_lineage",
    )
    assert [(k, b, n, f, r, at) for k, b, n, f, r, at in after] == [
        (key[:32], batch, 1, path, row, at) for key, batch, path, row, at in before
    ]

    migrate.downgrade(empty_db, "0006")
    assert _sales_lines(engine, "line_key, batch_id, source_file, source_row, loaded_at") == before


def _sales_lines(engine, columns: str, table: str = "raw.sales_line") -> list[tuple]:
    with engine.connect() as conn:
        return [tuple(r) for r in conn.execute(text(f"select {columns} from {table} order by id"))]


def test_commands_on_a_database_not_initialised_say_what_to_run(empty_db, tmp_path):
    from datetime import date

    from reco.backtest.run import run_backtest
    from reco.errors import RecoError
    from reco.ingest import load_files
    from reco.scoring.runs import run_scoring

    csv = tmp_path / "sales.csv"
    csv.write_text(
        "doc_ref,order_date,customer_code,product_key,quantity,unit_price\nA1,2026-01-02,C1,P1,1,9.5\n"
    )
    for call in (
        lambda: load_files(empty_db, "sales", [csv]),
        lambda: run_scoring(empty_db, "run-1"),
        lambda: run_backtest(empty_db, [date(2026, 1, 1)], 90),
    ):
        with pytest.raises(RecoError, match=r"is not initialised: run `uv run reco db init`"):
            call()
