"""The marts read from Parquet files as Spark writes them (``reco score --marts parquet:PATH``):
the scorer's inputs are those PostgreSQL's marts give, whatever part files and Spark types hold
them; a missing or mistyped column is one error naming the file and the column; consent and the
stale-mart checks still come from PostgreSQL's durable sources. (The fault tests of consent run
on this path too: tests/faults, the ``marts`` fixture.)"""

from __future__ import annotations

import shutil
from pathlib import Path

import polars as pl
import pytest

from reco.errors import RecoError
from reco.scoring.inputs import MARTS_READ, read_consent, read_inputs
from reco.scoring.marts import ParquetMarts, export_parquet, marts_source
from tests.scoring.conftest import AS_OF

FRAMES = ("customers", "products", "order_lines", "profiles", "contacts")


def _collected(inputs) -> dict[str, pl.DataFrame]:
    return {name: getattr(inputs, name).collect().sort(pl.all()) for name in FRAMES}


@pytest.fixture
def lake(marts, use_db, tmp_path) -> Path:
    root = tmp_path / "lake"
    export_parquet(use_db, root, list(MARTS_READ))
    return root


def _rewrite(root: Path, table: str, change) -> None:
    """Rewrite a table's part file as another writer would (Spark's types, several parts)."""
    part = root / table / "part-0.parquet"
    frame = change(pl.read_parquet(part))
    part.unlink()
    half = frame.height // 2
    frame.slice(0, half).write_parquet(root / table / "part-00000-0a1b-c000.snappy.parquet")
    frame.slice(half).write_parquet(root / table / "part-00001-0a1b-c000.snappy.parquet")
    (root / table / ".part-00000-0a1b-c000.snappy.parquet.crc").write_bytes(b"crc")


def test_inputs_from_parquet_marts_are_those_from_postgresql(use_db, lake):
    from_pg = read_inputs(use_db, as_of=AS_OF)
    from_parquet = read_inputs(use_db, as_of=AS_OF, marts=ParquetMarts(lake))
    assert from_parquet.marts == f"parquet:{lake}" and from_pg.marts == "marts"
    pg, pq = _collected(from_pg), _collected(from_parquet)
    for name in FRAMES:
        assert pq[name].schema == pg[name].schema, name
        assert pq[name].equals(pg[name]), name
    assert from_parquet.sources["unmapped_customer_codes"] == from_pg.sources["unmapped_customer_codes"]


def test_spark_types_and_part_files_are_read_as_the_postgresql_types(use_db, lake):
    """Spark writes bigint for an int, decimal(18,4) for money, float for a real, and several
    part files next to _SUCCESS and .crc files."""
    _rewrite(
        lake,
        "product",
        lambda f: f.with_columns(
            pl.col("premium_tier").cast(pl.Int64), pl.col("unit_price").cast(pl.Decimal(18, 4))
        ),
    )
    _rewrite(lake, "order_line", lambda f: f.with_columns(pl.col("quantity").cast(pl.Decimal(18, 4))))
    pg = _collected(read_inputs(use_db, as_of=AS_OF))
    pq = _collected(read_inputs(use_db, as_of=AS_OF, marts=marts_source(f"parquet:{lake}", "marts")))
    assert all(pq[name].equals(pg[name]) for name in FRAMES)


def test_a_missing_column_is_one_error_naming_the_file_and_the_column(use_db, lake):
    _rewrite(lake, "order_line", lambda f: f.drop("is_purchase"))
    with pytest.raises(
        RecoError, match=r"order_line/part-00000-0a1b-c000\.snappy\.parquet: column 'is_purchase' is missing"
    ):
        read_inputs(use_db, as_of=AS_OF, marts=ParquetMarts(lake))


def test_a_column_of_another_type_is_refused_never_guessed(use_db, lake):
    _rewrite(lake, "order_line", lambda f: f.with_columns(pl.col("order_date").cast(pl.Datetime("ns"))))
    with pytest.raises(RecoError, match=r"column 'order_date' is Datetime\(time_unit='ns'.*expected Date"):
        read_inputs(use_db, as_of=AS_OF, marts=ParquetMarts(lake))
    _rewrite(lake, "customer", lambda f: f.with_columns(pl.col("is_optout").cast(pl.String)))
    with pytest.raises(
        RecoError, match=r"customer/part-0000.*column 'is_optout' is String, expected Boolean"
    ):
        read_consent(use_db, marts=ParquetMarts(lake))


def test_a_table_may_be_a_single_file_but_a_missing_or_half_written_one_is_refused(use_db, lake):
    profile = lake / "client_master_profile"
    (profile / "part-0.parquet").rename(lake / "client_master_profile.parquet")
    shutil.rmtree(profile)
    assert read_inputs(use_db, as_of=AS_OF, marts=ParquetMarts(lake)).profiles.collect().height > 0
    (lake / "client_master_profile.parquet").unlink()
    with pytest.raises(RecoError, match=rf"scoring inputs missing: parquet:{lake}/client_master_profile"):
        read_inputs(use_db, as_of=AS_OF, marts=ParquetMarts(lake))
    (lake / "product" / "_temporary").mkdir()
    with pytest.raises(RecoError, match="_temporary folder"):
        read_inputs(use_db, as_of=AS_OF, marts=ParquetMarts(lake))


def test_an_empty_parquet_code_map_is_refused_as_damage(use_db, lake):
    _rewrite(lake, "customer_code_map", lambda f: f.clear())
    with pytest.raises(RecoError, match=rf"refusing to score: parquet:{lake}/customer_code_map is empty"):
        read_inputs(use_db, as_of=AS_OF, marts=ParquetMarts(lake))


def test_marts_option_values(tmp_path):
    assert str(marts_source(None, "bt_marts")) == "bt_marts"
    assert str(marts_source("postgres", "marts")) == "marts"
    with pytest.raises(RecoError, match="expected postgres or parquet:PATH"):
        marts_source("spark", "marts")
    with pytest.raises(RecoError, match="no such directory"):
        marts_source(f"parquet:{tmp_path / 'nowhere'}", "marts")
