"""The Parquet landing and the Parquet marts on an object store, for real: an S3-compatible
server (moto's, started on a free local port for the session) reached through the standard
environment (``AWS_ENDPOINT_URL``, ``AWS_ACCESS_KEY_ID`` …), as a cluster's bucket would be.

``reco load --parquet s3://…`` lands the rows, columns and lineage the local landing does; a
duplicate file is refused the same way; a load that dies after its commit and before (or in the
middle of) its publication (``RECO_TEST_CRASH_AT``: the process ends with ``os._exit``, no
cleanup) leaves staged objects only, which the next load publishes by the batch's status;
``reco export-marts s3://…`` then ``reco score --marts parquet:s3://…`` gives the items of a run
from PostgreSQL's marts, and a customer opted out after the export gets nothing."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import polars as pl
import pytest

from reco.db.models.raw import LoadFile, RawSalesLine
from reco.ingest import LoadOptions, load_files
from reco.ingest.parquet import (
    CRASH_ENV,
    CRASH_EXIT,
    EMPTY,
    PART,
    RAW_TABLES,
    RECO_FOLDER,
    RECO_SOURCES,
    TEMP_SUFFIX,
    export_sources,
    polars_schema,
)
from reco.lake import Store
from tests.ingest.helpers import count, rows
from tests.ingest.test_parquet import LATER, LINES, _accounting, _reset, parquet_rows, write
from tests.support import s3

#: the S3-compatible server and a bucket per test (tests/support/s3.py)
s3_endpoint, bucket = s3.s3_endpoint, s3.bucket


def s3_rows(root: str, table: str, key: str = "id") -> pl.DataFrame:
    files = Store(root).parquet_files(table)
    return pl.read_parquet(files).sort(key)


def names(root: str, table: str) -> list[str]:
    return Store(root).names(table)


def _files(local: Path) -> pl.DataFrame:
    return pl.read_parquet(sorted((local / "load_file").glob("*.parquet"))).sort("batch_id")


SALES_COLUMNS = [c.name for c in RawSalesLine.__table__.columns]
#: what a load_file row holds that differs between two loads of one file: none but the path
LOAD_FILE = [c.name for c in LoadFile.__table__.columns if c.name not in ("path",)]


def test_sales_land_on_s3_with_the_rows_columns_and_lineage_of_the_local_landing(db, tmp_path, bucket):
    first, later = write(tmp_path / "jan.csv", LINES), write(tmp_path / "feb.csv", LATER)
    local = tmp_path / "lake"
    on_disk = [
        load_files(db, "sales", [f], LoadOptions(batch_id=f"b{i}", parquet=local))
        for i, f in enumerate((first, later))
    ]
    local_sales, local_files = parquet_rows(local, "sales_line"), _files(local)
    local_rejects = parquet_rows(local, "reject").drop("id", "loaded_at")
    _reset(db)

    root = f"s3://{bucket}/raw"
    on_s3 = [
        load_files(db, "sales", [f], LoadOptions(batch_id=f"b{i}", parquet=root))
        for i, f in enumerate((first, later))
    ]
    assert count(db, "raw.sales_line") == 0  # sales lines: Parquet only, as on a folder
    assert [_accounting(r) for r in on_s3] == [_accounting(r) for r in on_disk]
    assert names(root, "sales_line") == ["b0.parquet", "b1.parquet"]  # no staged object left
    landed = s3_rows(root, "sales_line")
    assert landed.columns == SALES_COLUMNS
    assert landed.schema == pl.Schema(polars_schema(RawSalesLine.__table__))
    assert landed.equals(local_sales)  # ids, batch_id, file_no, source_row, line_key: the same
    assert s3_rows(root, "load_file", "batch_id").select(LOAD_FILE).equals(local_files.select(LOAD_FILE))
    assert s3_rows(root, "reject").drop("id", "loaded_at").equals(local_rejects)
    batches = pl.read_parquet(Store(root).parquet_files("load_batch"))
    assert sorted(batches["batch_id"]) == ["b0", "b1"] and set(batches["status"]) == {"succeeded"}
    assert set(batches["options"].str.json_decode().struct.field("parquet")) == {root}
    # every raw table readable from the first load: the same files as on a folder
    for table in RAW_TABLES:
        assert names(root, table.name) == sorted(p.name for p in (local / table.name).iterdir()), table.name
    assert names(root, "contact") == [EMPTY]


def test_a_duplicate_file_is_refused_as_on_a_folder_and_a_reload_lands_no_line_twice(db, tmp_path, bucket):
    root, export = f"s3://{bucket}/raw", write(tmp_path / "jan.csv", LINES)
    load_files(db, "sales", [export], LoadOptions(parquet=root))
    again = load_files(db, "sales", [export], LoadOptions(parquet=root))
    assert again.status == "duplicate" and again.loaded == 0
    reloaded = load_files(db, "sales", [export], LoadOptions(parquet=root, reload=True))
    assert reloaded.loaded == 0 and reloaded.duplicates == 5  # every key already in the bucket
    assert len(Store(root).parquet_files("sales_line")) == 1
    assert s3_rows(root, "sales_line").height == 5


def test_a_failed_batch_leaves_no_object_and_its_id_can_be_retried(db, tmp_path, bucket):
    root, export = f"s3://{bucket}/raw", write(tmp_path / "jan.csv", LINES)
    with pytest.raises(Exception, match="reject"):
        load_files(db, "sales", [export], LoadOptions(batch_id="b1", parquet=root, max_reject_rate=0))
    store = Store(root)
    everything = store.names(recursive=True)
    assert {n.rsplit("/", 1)[1] for n in everything} == {EMPTY}  # no staged object either
    load_files(db, "sales", [export], LoadOptions(batch_id="b1", parquet=root))
    assert s3_rows(root, "sales_line").height == 5


def _load_in_a_child(
    db, root: str, export: Path, batch_id: str, crash_at: str
) -> subprocess.CompletedProcess:
    """``reco load sales … --parquet ROOT`` as a user runs it, in a process that dies at
    ``crash_at`` (after its commit: ``reco.ingest.parquet.CRASH_POINTS``)."""
    env = {**os.environ, "DATABASE_URL": db.conninfo(), CRASH_ENV: crash_at}
    return subprocess.run(
        [sys.executable, "-m", "reco.cli.main", "load", "sales", str(export), "--batch-id", batch_id]
        + ["--parquet", root],
        env=env,
        capture_output=True,
        text=True,
        timeout=300,
    )


@pytest.mark.parametrize("crash_at", ["publish", "published-one"])
def test_a_load_dead_between_its_commit_and_its_publication_is_published_by_the_next_load(
    db, tmp_path, bucket, crash_at
):
    root = f"s3://{bucket}/raw"
    died = _load_in_a_child(db, root, write(tmp_path / "jan.csv", LINES), "b1", crash_at)
    assert died.returncode == CRASH_EXIT, died.stderr
    assert rows(db, "select status from raw.load_batch where batch_id = 'b1'") == [("succeeded",)]
    staged = f".b1{TEMP_SUFFIX}"
    assert staged in names(root, "sales_line") and staged in names(root, "load_batch")
    if crash_at == "publish":  # nothing of the batch is visible yet: its lines are staged only
        assert names(root, "sales_line") == [staged, EMPTY]
        assert pl.read_parquet(Store(root).parquet_files("sales_line")).height == 0
    else:  # the first file copied, its staged object (and the zero-row file) still there
        assert names(root, "sales_line") == [staged, "b1.parquet", EMPTY]

    later = load_files(
        db, "sales", [write(tmp_path / "feb.csv", LATER)], LoadOptions(batch_id="b2", parquet=root)
    )
    assert names(root, "sales_line") == ["b1.parquet", "b2.parquet"]
    assert not [n for n in Store(root).names(recursive=True) if n.endswith(TEMP_SUFFIX)]
    assert later.loaded == 1 and later.duplicates == 1  # F3 was in the published b1
    assert s3_rows(root, "sales_line").height == 6
    assert sorted(pl.read_parquet(Store(root).parquet_files("load_batch"))["batch_id"]) == ["b1", "b2"]


def test_staged_objects_of_a_batch_that_never_committed_are_deleted_by_the_next_load(db, tmp_path, bucket):
    root = f"s3://{bucket}/raw"
    load_files(db, "sales", [write(tmp_path / "jan.csv", LINES)], LoadOptions(batch_id="b1", parquet=root))
    store = Store(root)
    store.copy(("sales_line", "b1.parquet"), ("sales_line", f".b0{TEMP_SUFFIX}"))  # b0: never recorded
    load_files(db, "sales", [write(tmp_path / "feb.csv", LATER)], LoadOptions(batch_id="b2", parquet=root))
    assert names(root, "sales_line") == ["b1.parquet", "b2.parquet"]


def test_export_sources_to_s3_writes_the_reco_tables_as_on_a_folder(db, tmp_path, bucket):
    root = f"s3://{bucket}/raw"
    written = export_sources(db, root)
    assert set(written) == {f"reco.{t.name}" for t in RECO_SOURCES}
    for table in RECO_SOURCES:
        assert names(root, f"{RECO_FOLDER}/{table.name}") == [PART]
        frame = pl.read_parquet(Store(root).uri_of(RECO_FOLDER, table.name, PART))
        assert frame.schema == pl.Schema(polars_schema(table)), table.name


def test_a_missing_bucket_is_one_clear_error(db, tmp_path, bucket):
    with pytest.raises(Exception, match="no bucket"):
        load_files(
            db, "sales", [write(tmp_path / "jan.csv", LINES)], LoadOptions(parquet="s3://nowhere-x/raw")
        )


def test_a_file_uri_takes_the_object_store_protocol_and_lands_the_same_files(db, tmp_path):
    """``file:///…`` is opened by the same code path (pyarrow's local filesystem): the same
    files as a plain folder (which keeps fsync and rename: docs/ingestion.md)."""
    export = write(tmp_path / "jan.csv", LINES)
    load_files(db, "sales", [export], LoadOptions(batch_id="b1", parquet=tmp_path / "plain"))
    _reset(db)
    load_files(db, "sales", [export], LoadOptions(batch_id="b1", parquet=f"file://{tmp_path}/uri"))
    for table in RAW_TABLES:
        assert sorted(p.name for p in (tmp_path / "uri" / table.name).iterdir()) == sorted(
            p.name for p in (tmp_path / "plain" / table.name).iterdir()
        ), table.name
    assert parquet_rows(tmp_path / "uri", "sales_line").equals(parquet_rows(tmp_path / "plain", "sales_line"))
