"""The streaming sales load: a file typed, keyed and COPYed in chunks lands exactly what it
lands in one piece, and an error after some chunks were COPYed leaves nothing landed."""

from __future__ import annotations

from datetime import date
from pathlib import Path

import polars as pl
import psycopg
import pytest

from reco.ingest import LoadFailed, LoadOptions, land, load, load_files
from reco.ingest.parse import LineKeys
from tests.ingest.helpers import count, rows

HEADER = "doc_ref,order_ts,customer_code,product_key,product_label,quantity,unit_price\n"
GOOD = [
    "F1,2024-01-05 10:00,C1,P1,Chablis,1,12.5",
    "F1,2024-01-05 10:00,C1,P1,Chablis,1,12.5",  # the same line twice on one invoice
    "F1,2024-01-05 10:00,C1,P2,Margaux,2,30",
    "F2,2024-01-06 11:00,C2,P1,Chablis,3,12.5",
    "F2,2024-01-06 11:00,C2,P1,Chablis,3,12.5",
    "F3,2024-01-07 09:00,C3,P3,Sancerre,1,18",
    "F1,2024-01-05 10:00,C1,P1,Chablis,1,12.5",  # a third time, chunks later
    "F4,2024-01-08 09:00,C4,P4,Pouilly,2,21",
]
BAD = "F5,notadate,C1,P1,x,1,1"

LANDED = """select id, doc_ref, order_ts, order_date, customer_code, product_key, quantity,
                   unit_price, amount_ht, line_type, file_no, source_row, line_key
            from raw.sales_line order by id"""
REJECTS = "select source_file, source_row, raw_text, reason_codes, details from raw.reject order by 1, 2"


def write(path: Path, lines: list[str]) -> Path:
    path.write_text(HEADER + "".join(f"{line}\n" for line in lines))
    return path


def _reset(db) -> None:
    with psycopg.connect(db.conninfo()) as conn:
        conn.execute("truncate raw.sales_line, raw.reject, raw.load_file, raw.load_batch")
        conn.execute("alter table raw.sales_line alter column id restart")


def _landed(db, report) -> tuple:
    files = [(f.rows_read, f.loaded, f.rejected, f.duplicates, f.rejected_by_reason) for f in report.files]
    return rows(db, LANDED), rows(db, REJECTS), files


def test_line_keys_of_a_file_in_chunks_are_its_keys_computed_whole():
    n = 40
    frame = pl.DataFrame(
        {
            "doc_ref": [f"D{i % 5}" for i in range(n)],  # 15 distinct lines, each 2 or 3 times
            "product_key": [f"P{i % 3}" for i in range(n)],
            "product_label": pl.Series([None] * n, dtype=pl.String),
            "customer_code": ["C1"] * n,
            "order_ts": pl.Series([None] * n, dtype=pl.Datetime("us")),
            "order_date": [date(2024, 1, 1)] * n,
            "quantity": pl.Series([1] * n).cast(pl.Decimal(18, 4)),
            "unit_price": pl.Series([5] * n).cast(pl.Decimal(18, 4)),
            "amount_ht": pl.Series([None] * n, dtype=pl.Decimal(18, 4)),
        }
    )
    whole = LineKeys()(frame)
    assert whole.n_unique() == n  # repeated lines get their occurrence
    for size in (1, 2, 3, 7, 16, n):
        keys = LineKeys()
        chunked = pl.concat([keys(frame.slice(s, size)) for s in range(0, n, size)])
        assert chunked.to_list() == whole.to_list(), size


def test_a_batch_loaded_in_chunks_lands_exactly_what_it_lands_in_one_piece(db, tmp_path, monkeypatch):
    a = write(tmp_path / "a.csv", [GOOD[0], BAD, *GOOD[1:5], "F6,2024-01-09,C1", *GOOD[5:]])
    b = write(tmp_path / "b.csv", [GOOD[2], "F9,2024-01-10 10:00,C9,P9,Chinon,1,9", GOOD[6], BAD])
    load_files(db, "sales", [write(tmp_path / "earlier.csv", [GOOD[7]])], LoadOptions(batch_id="earlier"))
    earlier = rows(db, LANDED)

    def batch(chunk_rows: int) -> tuple:
        monkeypatch.setattr(load, "STREAM_ROWS", chunk_rows)
        report = load_files(db, "sales", [a, b], LoadOptions(batch_id="b"))
        return _landed(db, report)

    chunked = batch(2)
    _reset(db)
    load_files(db, "sales", [write(tmp_path / "earlier.csv", [GOOD[7]])], LoadOptions(batch_id="earlier"))
    assert rows(db, LANDED) == earlier
    whole = batch(1 << 18)
    assert chunked == whole
    landed, rejects, files = whole
    # a.csv: 10 rows, 2 rejected, 1 already landed (GOOD[7]); b.csv: 4 rows, 1 rejected,
    # 2 already in a.csv (first file wins)
    assert [f[:4] for f in files] == [(10, 7, 2, 1), (4, 1, 1, 2)]
    assert len(landed) == 1 + 7 + 1 and len(rejects) == 3


def _spy_on_writes(monkeypatch) -> list[int]:
    written: list[int] = []
    write_lines = land.SalesLanding.write

    def spy(self, lines):
        write_lines(self, lines)
        written.append(lines.height)

    monkeypatch.setattr(land.SalesLanding, "write", spy)
    return written


def test_a_bad_row_late_in_the_file_fails_the_batch_after_earlier_chunks_were_copied_and_nothing_lands(
    db, tmp_path, monkeypatch
):
    monkeypatch.setattr(load, "STREAM_ROWS", 2)
    written = _spy_on_writes(monkeypatch)
    f = write(tmp_path / "late.csv", [*GOOD, BAD])
    with pytest.raises(LoadFailed, match="1 of 9 rows rejected"):
        load_files(db, "sales", [f], LoadOptions(batch_id="late", max_reject_rate=0))
    assert sum(written) == len(GOOD)  # every good line was COPYed before the bad one was read
    assert count(db, "raw.sales_line") == 0 and count(db, "raw.reject") == 0
    assert count(db, "raw.load_file") == 0
    assert rows(db, "select status, rows_read, rows_loaded, rows_rejected from raw.load_batch") == [
        ("failed", 9, 0, 1)
    ]
    again = load_files(db, "sales", [f], LoadOptions(batch_id="late"))
    assert (again.loaded, again.rejected) == (len(GOOD), 1)
    assert rows(db, "select count(distinct id), max(id) - min(id) + 1 from raw.sales_line") == [
        (len(GOOD), len(GOOD))
    ]


def test_an_unreadable_file_after_copied_chunks_of_another_fails_the_batch_and_nothing_lands(
    db, tmp_path, monkeypatch
):
    monkeypatch.setattr(load, "STREAM_ROWS", 2)
    written = _spy_on_writes(monkeypatch)
    good = write(tmp_path / "good.csv", GOOD)
    unreadable = tmp_path / "bad.csv"
    unreadable.write_text('doc_ref,order_ts\n"F1,2024-01-05\n')
    with pytest.raises(LoadFailed, match="bad.csv: unterminated quoted field starting on line 2"):
        load_files(db, "sales", [good, unreadable])
    assert sum(written) == len(GOOD)
    assert count(db, "raw.sales_line") == 0 and count(db, "raw.load_file") == 0
    assert rows(db, "select status from raw.load_batch") == [("failed",)]
