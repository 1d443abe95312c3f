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
