"""The binary COPY encoder against a real server: every type round-trips exactly, nulls too."""

from __future__ import annotations

import uuid
from datetime import UTC, date, datetime
from decimal import Decimal

import polars as pl
import psycopg
import pytest

from reco.ingest import pgcopy

NUMBERS = [
    "0",
    "0.0000",
    "1",
    "-1",
    "0.0001",
    "-0.0001",
    "12.5",
    "-12.5",
    "10000",
    "10000.0001",
    "100000000",
    "1234.5678",
    "-98765432.1",
    "99999999999999.9999",
    "-99999999999999.9999",
    "20000000.0000",
    None,
]


def _copy_and_read(db, frame: pl.DataFrame, select: str = "*", chunk_rows: int = pgcopy.CHUNK_ROWS):
    with psycopg.connect(db.conninfo()) as conn, conn.cursor() as cur:
        pgcopy.create_temp(cur, "t", frame)
        cur.execute(f"select {select} from pg_temp.t")
        return cur.fetchall()


@pytest.mark.parametrize("scale", [0, 2, 4, 6])
def test_numeric_round_trips_exactly_like_the_servers_own_cast(db, scale):
    values = [None if v is None else Decimal(v) for v in NUMBERS]
    # keep the values numeric(18, scale) holds
    values = [
        v for v in values if v is None or (v == round(v, scale) and abs(v) < Decimal(10) ** (18 - scale))
    ]
    frame = pl.DataFrame(
        {
            "n": pl.Series(values, dtype=pl.Decimal(18, scale)),
            "text": [None if v is None else str(v) for v in values],
        }
    )
    got = _copy_and_read(
        db,
        frame,
        f"n, n::text = (text::numeric(18, {scale}))::text, "
        f"numeric_send(n) = numeric_send(text::numeric(18, {scale})), n is null = (text is null)",
    )
    assert [g[0] for g in got] == [
        None if v is None else v.quantize(Decimal(1).scaleb(-scale)) for v in values
    ]
    assert all(
        same_text is not False and same_bytes is not False and nulls
        for _, same_text, same_bytes, nulls in got
    )


def test_every_type_round_trips_with_nulls(db):
    key = uuid.UUID("12345678-1234-5678-1234-567812345678")
    frame = pl.DataFrame(
        {
            "i16": pl.Series([1, -32768, None], dtype=pl.Int16),
            "i32": pl.Series([None, 2_147_483_647, -5], dtype=pl.Int32),
            "i64": pl.Series([9_000_000_000_000, None, -1], dtype=pl.Int64),
            "f64": pl.Series([1.5, None, -0.25], dtype=pl.Float64),
            "ok": pl.Series([True, False, None], dtype=pl.Boolean),
            "s": pl.Series(["é€ 漢字", "", None], dtype=pl.String),
            "d": pl.Series([date(1900, 1, 1), None, date(2100, 12, 31)], dtype=pl.Date),
            "ts": pl.Series(
                [datetime(1999, 12, 31, 23, 59, 59, 999_999), datetime(2024, 3, 31, 14, 5), None]
            ),
            "tz": pl.Series([datetime(2024, 1, 1, 12, tzinfo=UTC), None, datetime(2000, 1, 1, tzinfo=UTC)]),
            "b": pl.Series([key.bytes, None, b"\x00\xff"], dtype=pl.Binary),
            "tags": pl.Series([["a", 'b"c', "noël", "été"], None, []], dtype=pl.List(pl.String)),
        }
    )
    got = _copy_and_read(db, frame)
    expected = [tuple(r.values()) for r in frame.to_dicts()]
    assert len(got) == 3
    for g, e in zip(got, expected, strict=True):
        assert g[:8] == e[:8]
        assert g[8] == e[8]  # timestamptz: an aware datetime at the same instant
        assert g[9] == e[9]
        assert g[10] == e[10]
    with psycopg.connect(db.conninfo()) as conn, conn.cursor() as cur:
        cur.execute("create temporary table u (k uuid)")
        pgcopy.copy_frame(cur, "pg_temp.u", pl.DataFrame({"k": [key.bytes, None, key.bytes]}))
        assert cur.execute("select k from pg_temp.u").fetchall() == [(key,), (None,), (key,)]


def test_a_frame_larger_than_a_chunk_lands_every_row_in_order(db):
    n = 10_007
    frame = pl.DataFrame(
        {
            "i": pl.int_range(0, n, dtype=pl.Int64, eager=True),
            "s": pl.int_range(0, n, eager=True).cast(pl.String),
            "q": (pl.int_range(0, n, eager=True) - 5000).cast(pl.Decimal(18, 4)) / 7,
        }
    ).with_columns(pl.col("q").cast(pl.Decimal(18, 4)))
    got = _copy_and_read(db, frame, "i, s, q", chunk_rows=1000)
    assert got == [tuple(r.values()) for r in frame.to_dicts()]


def test_all_null_and_empty_frames(db):
    frame = pl.DataFrame({"a": pl.Series([None, None], dtype=pl.Decimal(18, 4)), "b": [None, None]}).cast(
        {"b": pl.String}
    )
    assert _copy_and_read(db, frame) == [(None, None), (None, None)]
    assert _copy_and_read(db, pl.DataFrame({"a": [None, None]})) == [(None,), (None,)]
    assert _copy_and_read(db, frame.head(0)) == []
