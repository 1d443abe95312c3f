"""``reco load … --parquet ROOT``: sales lines land in ``ROOT/sales_line/<batch>.parquet`` only,
with the rows, ids, keys and lineage a PostgreSQL landing gives them; the other tables land in
PostgreSQL and in Parquet alike; rejects and accounting are those of a load without it; a
re-run duplicates nothing; a batch that fails leaves no file; files left by a crash are resolved."""

from __future__ import annotations

from pathlib import Path

import polars as pl
import psycopg
import pytest
import yaml

from reco.db.models.raw import LoadBatch, RawContact, RawCustomer, RawSalesLine, Reject
from reco.errors import RecoError
from reco.ingest import LoadFailed, LoadOptions, load_files
from reco.ingest.parquet import (
    EMPTY,
    PART,
    RAW_TABLES,
    RECO_FOLDER,
    RECO_SOURCES,
    TEMP_SUFFIX,
    export_landed,
    export_sources,
    polars_schema,
)
from reco.settings import project_root
from tests.ingest.helpers import count, rows

HEADER = "doc_ref,order_ts,customer_code,product_key,product_label,quantity,unit_price\n"
LINES = [
    "F1,2024-01-05 10:00,C1,P1,Chablis,1,12.5",
    "F1,2024-01-05 10:00,C1,P1,Chablis,1,12.5",  # the same line twice on one invoice
    "F1,2024-01-05 10:00,C1,P2,Margaux,2,30",
    "F2,2024-01-06 11:00,C2,P1,Chablis,3,12.5",
    "F5,notadate,C1,P1,x,1,1",  # rejected
    "F3,2024-01-07 09:00,C3,P3,Sancerre,1.5,18",
]
LATER = [  # overlaps the first export by one invoice
    "F3,2024-01-07 09:00,C3,P3,Sancerre,1.5,18",
    "F4,2024-01-08 09:00,C4,P4,Pouilly,2,21",
]
COLUMNS = [c.name for c in RawSalesLine.__table__.columns]
LANDED = (
    f"select {', '.join(c if c != 'line_key' else 'line_key::text' for c in COLUMNS)} from raw.sales_line"
)


def write(path: Path, lines: list[str]) -> Path:
    path.write_text(HEADER + "".join(f"{line}\n" for line in lines))
    return path


def parquet_rows(root: Path, table: str) -> pl.DataFrame:
    return pl.read_parquet(sorted((root / table).glob("*.parquet"))).sort("id")


def _reset(db) -> None:
    with psycopg.connect(db.conninfo()) as conn:
        conn.execute("truncate raw.sales_line, raw.reject, raw.load_file, raw.load_batch")
        conn.execute("alter table raw.sales_line alter column id restart")


def _accounting(report) -> list[tuple]:
    return [(f.rows_read, f.loaded, f.rejected, f.duplicates, f.rejected_by_reason) for f in report.files]


REJECTS = "select source_file, source_row, raw_text, reason_codes, details from raw.reject order by 1, 2"


def test_sales_land_in_parquet_only_with_the_rows_columns_and_types_postgresql_gives_them(db, tmp_path):
    first, later = write(tmp_path / "jan.csv", LINES), write(tmp_path / "feb.csv", LATER)
    pg = [load_files(db, "sales", [f], LoadOptions(batch_id=f"b{i}")) for i, f in enumerate((first, later))]
    in_postgres = pl.DataFrame(rows(db, LANDED), schema=polars_schema(RawSalesLine.__table__), orient="row")
    pg_rejects = rows(db, REJECTS)
    _reset(db)

    root = tmp_path / "lake"
    pq = [
        load_files(db, "sales", [f], LoadOptions(batch_id=f"b{i}", parquet=root))
        for i, f in enumerate((first, later))
    ]
    assert count(db, "raw.sales_line") == 0  # the big table stays out of PostgreSQL
    assert sorted(p.name for p in (root / "sales_line").iterdir()) == ["b0.parquet", "b1.parquet"]
    landed = parquet_rows(root, "sales_line")
    assert landed.columns == COLUMNS
    assert landed.schema == pl.Schema(polars_schema(RawSalesLine.__table__))
    assert landed.equals(in_postgres.sort("id"))
    assert landed.height == 6  # 5 of January (a repeated line counts twice) + F4; F3 once
    # rejects and accounting exactly as without --parquet, and in Parquet too
    assert [_accounting(r) for r in pq] == [_accounting(r) for r in pg]
    assert rows(db, REJECTS) == pg_rejects
    assert parquet_rows(root, "reject").height == count(db, "raw.reject") > 0
    assert set(parquet_rows(root, "reject").columns) == {c.name for c in Reject.__table__.columns}
    batches = pl.read_parquet(sorted((root / "load_batch").glob("*.parquet")))
    assert sorted(batches["batch_id"]) == ["b0", "b1"] and set(batches["status"]) == {"succeeded"}
    assert batches.columns == [c.name for c in LoadBatch.__table__.columns]
    assert sorted(pl.read_parquet(sorted((root / "load_file").glob("*.parquet")))["batch_id"]) == ["b0", "b1"]


def test_a_rerun_of_the_same_batch_lands_no_line_twice(db, tmp_path):
    root, export = tmp_path / "lake", write(tmp_path / "jan.csv", LINES)
    load_files(db, "sales", [export], LoadOptions(parquet=root))
    again = load_files(db, "sales", [export], LoadOptions(parquet=root))
    assert again.status == "duplicate" and again.loaded == 0  # the same file: not read again
    reloaded = load_files(db, "sales", [export], LoadOptions(parquet=root, reload=True))
    assert reloaded.loaded == 0 and reloaded.duplicates == 5  # read again: every key already there
    assert len(list((root / "sales_line").glob("*.parquet"))) == 1
    assert parquet_rows(root, "sales_line").height == 5


def test_customers_and_contacts_land_in_postgresql_and_the_same_rows_in_parquet(db, tmp_path):
    root = tmp_path / "lake"
    customers = tmp_path / "customers.csv"
    customers.write_text(
        "customer_code,email,is_optout,updated_at\nC1,a@x.fr,1,2024-01-02 10:00\nC2,b@x.fr,0,\n"
    )
    contacts = tmp_path / "contacts.csv"
    contacts.write_text("customer_code,contact_date,status\nC1,2024-01-03,sent\nC2,2024-01-03,unsubscribed\n")
    load_files(db, "customers", [customers], LoadOptions(parquet=root))
    load_files(db, "contacts", [contacts], LoadOptions(parquet=root))
    overlapping = tmp_path / "contacts2.csv"  # one contact already landed: not landed again
    overlapping.write_text(
        "customer_code,contact_date,status\nC2,2024-01-03,unsubscribed\nC3,2024-01-04,sent\n"
    )
    load_files(db, "contacts", [overlapping], LoadOptions(parquet=root))
    for model, table in ((RawCustomer, "raw.customer"), (RawContact, "raw.contact")):
        schema = polars_schema(model.__table__)
        in_postgres = pl.DataFrame(
            rows(db, f"select * from {table} order by id"), schema=schema, orient="row"
        )
        assert parquet_rows(root, model.__tablename__).equals(in_postgres)
    assert count(db, "raw.contact") == 3


def test_a_failed_batch_leaves_no_file_and_its_id_can_be_retried(db, tmp_path):
    root, export = tmp_path / "lake", write(tmp_path / "jan.csv", LINES)
    with pytest.raises(LoadFailed):
        load_files(db, "sales", [export], LoadOptions(batch_id="b1", parquet=root, max_reject_rate=0))
    # no file of the batch: only the zero-row files that make the raw tables readable
    assert {p.name for p in root.rglob("*.parquet")} == {EMPTY}
    assert pl.read_parquet(list(root.rglob("*.parquet"))).height == 0
    assert not list(root.rglob(f"*{TEMP_SUFFIX}"))
    load_files(db, "sales", [export], LoadOptions(batch_id="b1", parquet=root))
    assert parquet_rows(root, "sales_line").height == 5


def test_files_left_by_a_crash_are_published_if_their_batch_committed_and_deleted_otherwise(db, tmp_path):
    root = tmp_path / "lake"
    load_files(db, "sales", [write(tmp_path / "jan.csv", LINES)], LoadOptions(batch_id="b1", parquet=root))
    # a crash after the commit, before the rename: the file is still under its temporary name
    final = root / "sales_line" / "b1.parquet"
    committed = final.with_name(f".b1{TEMP_SUFFIX}")
    final.rename(committed)
    # a crash before the commit: a batch PostgreSQL never recorded
    orphan = root / "sales_line" / f".b0{TEMP_SUFFIX}"
    orphan.write_bytes(committed.read_bytes())
    assert not list((root / "sales_line").glob("*.parquet"))  # neither is visible to a reader

    later = load_files(
        db, "sales", [write(tmp_path / "feb.csv", LATER)], LoadOptions(batch_id="b2", parquet=root)
    )
    assert not committed.exists() and final.exists() and not orphan.exists()
    assert later.loaded == 1 and later.duplicates == 1  # F3 was in the published b1
    assert parquet_rows(root, "sales_line").height == 6


def test_a_batch_id_that_cannot_name_a_file_is_refused(db, tmp_path):
    with pytest.raises(LoadFailed, match="cannot name a Parquet file"):
        load_files(
            db, "sales", [write(tmp_path / "jan.csv", LINES)], LoadOptions(batch_id="a/b", parquet=tmp_path)
        )


def test_products_tags_and_decimals_are_written_as_postgresql_types_and_text(db, tmp_path):
    root, catalogue = tmp_path / "lake", tmp_path / "products.csv"
    catalogue.write_text(
        "product_key,product_label,premium_tier,unit_price,season_tags,is_active\n"
        'P1,Chablis,2,12.5,"summer|christmas",1\nP2,Margaux,3,30.25,,0\n'
    )
    load_files(db, "products", [catalogue], LoadOptions(parquet=root))
    landed = parquet_rows(root, "product")
    assert landed.schema["unit_price"] == pl.Decimal(18, 4) and landed.schema["premium_tier"] == pl.Int32
    assert landed.schema["loaded_at"] == pl.Datetime("us", "UTC")
    in_postgres = rows(
        db, "select product_key, season_tags::text, unit_price, loaded_at from raw.product order by id"
    )
    assert [
        tuple(r) for r in landed.select("product_key", "season_tags", "unit_price", "loaded_at").iter_rows()
    ] == [tuple(r) for r in in_postgres]


def test_every_raw_table_is_readable_from_the_first_load_and_an_empty_one_is_empty(db, tmp_path):
    root, customers = tmp_path / "lake", tmp_path / "customers.csv"
    customers.write_text("customer_code,email\nC1,a@x.fr\n")
    load_files(db, "customers", [customers], LoadOptions(batch_id="c1", parquet=root))
    for table in RAW_TABLES:
        files = sorted((root / table.name).glob("*.parquet"))
        has_rows = table.name in ("customer", "load_batch", "load_file")
        assert [f.name for f in files] == ["c1.parquet" if has_rows else EMPTY], table.name
        landed = pl.read_parquet(files)
        assert landed.schema == pl.Schema(polars_schema(table)) and (landed.height > 0) == has_rows
    assert not list(root.rglob(".*"))  # no temporary file left
    # the first batch of a table replaces its zero-row file
    load_files(db, "sales", [write(tmp_path / "jan.csv", LINES)], LoadOptions(batch_id="s1", parquet=root))
    assert sorted(p.name for p in (root / "sales_line").iterdir()) == ["s1.parquet"]
    assert sorted(p.name for p in (root / "reject").iterdir()) == ["s1.parquet"]
    assert [p.name for p in (root / "contact").iterdir()] == [EMPTY]


def _dbt_sources(schema: str) -> set[str]:
    folder = project_root() / "dbt_project" / "models" / "staging" / schema
    doc = yaml.safe_load((folder / f"_{schema}__sources.yml").read_text())
    return {t["name"] for source in doc["sources"] for t in source["tables"]}


def test_the_tables_written_as_parquet_are_the_dbt_projects_sources():
    assert {t.name for t in RAW_TABLES} == _dbt_sources("raw") - {"sales_line_lineage"}
    assert {t.name for t in RECO_SOURCES} == _dbt_sources("reco")


def test_export_sources_writes_the_reco_tables_typed_as_the_raw_landing_and_replaces_them(db, tmp_path):
    with psycopg.connect(db.conninfo()) as conn:
        conn.execute(
            "insert into reco.reco_run (run_id, status, as_of, config_json, input_fingerprint)"
            """ values ('r1', 'succeeded', '2024-02-01', '{"seed": 1}', '{"marts": "marts"}')"""
        )
        conn.execute(
            "insert into reco.reco_item (run_id, customer_code, scenario, rank, product_key, score,"
            """ reasons_json) values ('r1', 'C1', 'REBUY', 1, 'P1', 0.5, '["bought"]'),"""
            """ ('r1', 'C2', 'REBUY', 1, 'P2', 0.25, '[]')"""
        )
        conn.execute(
            "insert into reco.run_outcome (run_id, customer_code, grp, scenario, contacted, window_start,"
            " window_days, is_partial, n_orders, revenue, bought_recommended, bought_recommended_family)"
            " values ('r1', 'C1', 'treatment', 'REBUY', true, '2024-02-02', 30, false, 1, 12.3456,"
            " true, true)"
        )
    root = tmp_path / "lake"
    written = export_sources(db, root)
    assert set(written) == {f"reco.{t.name}" for t in RECO_SOURCES}
    assert written["reco.reco_item"] == 2 and written["reco.contact_event"] == 0
    for table in RECO_SOURCES:
        files = list((root / RECO_FOLDER / table.name).iterdir())
        assert [f.name for f in files] == [PART]  # one file, no temporary one left
        frame = pl.read_parquet(files[0])
        assert frame.schema == pl.Schema(polars_schema(table)), table.name
        assert frame.height == written[f"reco.{table.name}"]
    run = pl.read_parquet(root / RECO_FOLDER / "reco_run" / PART).row(0, named=True)
    assert run["config_json"] == '{"seed": 1}' and run["as_of"].isoformat() == "2024-02-01"
    outcome = pl.read_parquet(root / RECO_FOLDER / "run_outcome" / PART)
    assert outcome.schema["revenue"] == pl.Decimal(18, 4) and str(outcome["revenue"][0]) == "12.3456"
    items = pl.read_parquet(root / RECO_FOLDER / "reco_item" / PART).sort("customer_code")
    assert items["reasons_json"].to_list() == ['["bought"]', "[]"] and items["score"].to_list() == [0.5, 0.25]

    with psycopg.connect(db.conninfo()) as conn:
        conn.execute("delete from reco.reco_item where customer_code = 'C2'")
    assert export_sources(db, root)["reco.reco_item"] == 1
    assert pl.read_parquet(root / RECO_FOLDER / "reco_item" / PART)["customer_code"].to_list() == ["C1"]


def test_export_landed_writes_the_raw_tables_as_a_parquet_landing_of_the_same_batches(db, tmp_path):
    # the same two exports landed in PostgreSQL, then exported, and landed with --parquet
    first, later = write(tmp_path / "jan.csv", LINES), write(tmp_path / "feb.csv", LATER)
    customers = tmp_path / "customers.csv"
    customers.write_text("customer_code,email,updated_at\nC1,a@x.fr,2024-01-02 10:00\nC2,b@x.fr,\n")
    for i, f in enumerate((first, later)):
        load_files(db, "sales", [f], LoadOptions(batch_id=f"b{i}"))
    load_files(db, "customers", [customers], LoadOptions(batch_id="c1"))
    exported = tmp_path / "exported"
    written = export_landed(db, exported)
    assert written["raw.sales_line"] == count(db, "raw.sales_line") == 6
    assert written["raw.customer"] == 2 and written["raw.contact"] == 0
    assert sorted(p.name for p in (exported / "sales_line").iterdir()) == ["b0.parquet", "b1.parquet"]
    assert [p.name for p in (exported / "customer").iterdir()] == ["c1.parquet"]
    assert [p.name for p in (exported / "contact").iterdir()] == [EMPTY]  # readable, empty
    assert not list(exported.rglob(".*"))  # no temporary file left
    for table in RAW_TABLES:
        landed = pl.read_parquet(sorted((exported / table.name).glob("*.parquet")))
        assert landed.schema == pl.Schema(polars_schema(table)), table.name
    in_postgres = pl.DataFrame(rows(db, LANDED), schema=polars_schema(RawSalesLine.__table__), orient="row")
    assert parquet_rows(exported, "sales_line").equals(in_postgres.sort("id"))
    assert export_landed(db, exported) == written  # again: the same files, replaced

    # the same rows as reco load --parquet lands from the same exports (load times aside)
    with psycopg.connect(db.conninfo()) as conn:
        conn.execute(
            "truncate raw.sales_line, raw.reject, raw.load_file, raw.load_batch, raw.customer"
            " restart identity"
        )
    root = tmp_path / "lake"
    for i, f in enumerate((first, later)):
        load_files(db, "sales", [f], LoadOptions(batch_id=f"b{i}", parquet=root))
    load_files(db, "customers", [customers], LoadOptions(batch_id="c1", parquet=root))
    for table in RAW_TABLES:
        names = sorted(p.name for p in (root / table.name).iterdir())
        assert sorted(p.name for p in (exported / table.name).iterdir()) == names, table.name
    for table in (RawSalesLine.__table__, RawCustomer.__table__, Reject.__table__):
        keep = [c for c in polars_schema(table) if c != "loaded_at"]
        assert (
            parquet_rows(root, table.name)
            .select(keep)
            .equals(parquet_rows(exported, table.name).select(keep))
        ), table.name


def test_export_landed_refuses_a_batch_id_that_cannot_name_a_file(db, tmp_path):
    load_files(db, "sales", [write(tmp_path / "jan.csv", LINES)], LoadOptions(batch_id="a b"))
    with pytest.raises(RecoError, match="batch id 'a b' cannot name a Parquet file"):
        export_landed(db, tmp_path / "lake")
    assert not (tmp_path / "lake").exists()


def test_reco_export_sources_raw_writes_the_landed_raw_tables_too(capsys, use_db, tmp_path):
    from tests.cli.helpers import run_cli

    load_files(use_db, "sales", [write(tmp_path / "jan.csv", LINES)], LoadOptions(batch_id="b0"))
    root = tmp_path / "lake"
    result = run_cli(capsys, "export-sources", str(root), "--raw")
    assert result.code == 0, result.err
    assert "/lake/sales_line:5rows" in "".join(result.out.split())  # the console wraps at 80
    assert [p.name for p in (root / "sales_line").iterdir()] == ["b0.parquet"]
    assert [p.name for p in (root / RECO_FOLDER / "reco_run").iterdir()] == [PART]
