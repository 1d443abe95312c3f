"""The streaming sales load: a file typed, keyed and COPYed in chunks lands exactly what it
lands in one piece, and an error after some chunks were COPYed leaves nothing landed."""

from __future__ import annotations

from collections import Counter
from datetime import date
from pathlib import Path

import numpy as np
import polars as pl
import psycopg
import pytest

from reco.ingest import LoadFailed, LoadOptions, land, load, load_files, parse
from reco.ingest.parse import KeySet, LineKeys
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


def test_a_key_set_counts_alike_in_memory_and_with_its_keys_on_disk():
    rng = np.random.default_rng(7)
    distinct = rng.integers(0, 2**63, size=(5_000, 2), dtype=np.uint64)
    keys = distinct[rng.integers(0, 5_000, 60_000)]
    keys[::7, 1] ^= np.uint64(1)  # keys sharing their first 64 bits with another
    keys = keys.view(np.uint8).reshape(-1, 16)
    seen: Counter = Counter()
    in_memory, on_disk = KeySet(), KeySet(memory_keys=3_000)
    for start in range(0, len(keys), 4_000):
        chunk = keys[start : start + 4_000]
        expected = [seen[bytes(k)] for k in chunk]
        assert in_memory.count(chunk).tolist() == expected
        assert on_disk.count(chunk).tolist() == expected
        seen.update(bytes(k) for k in chunk)
        in_memory.add(chunk)
        on_disk.add(chunk)
    assert len(on_disk._disk) >= 10 and not on_disk._runs  # its keys went to files
    assert len(on_disk) == len(in_memory) == len(keys)


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


# -- files read in blocks (read.BLOCK_BYTES): every whole-file fact holds across blocks -----------


def _blocks_used(monkeypatch) -> list[int]:
    """Spy: the number of blocks of each file read in blocks."""
    from reco.ingest import read

    plans: list[int] = []
    plan = read._Blocks.plan.__func__

    def spy(cls, *args):
        blocks = plan(cls, *args)
        if blocks is not None:
            plans.append(len(blocks.spans))
        return blocks

    monkeypatch.setattr(read._Blocks, "plan", classmethod(spy))
    return plans


def _batch(db, monkeypatch, files, block_bytes: int, chunk_rows: int, batch_id: str) -> tuple:
    monkeypatch.setattr(load, "BLOCK_BYTES", block_bytes)
    monkeypatch.setattr(load, "STREAM_ROWS", chunk_rows)
    report = load_files(db, "sales", files, LoadOptions(batch_id=batch_id))
    warnings = [f.warnings for f in report.files]
    return (*_landed(db, report), warnings, [f.rows_read for f in report.files])


def test_a_file_read_in_blocks_lands_what_it_lands_read_whole_with_the_offenders_in_different_blocks(
    db, tmp_path, monkeypatch
):
    # 64-byte blocks: about one record each. The repeated line (its occurrence), the line
    # already landed by an earlier batch (on a date outside the first blocks' dates), the line
    # repeated from the first file, a bad row, a ragged row and blank lines all fall in blocks
    # other than their counterparts'.
    earlier = write(tmp_path / "earlier.csv", ["F8,2024-03-01 09:00,C8,P8,Tavel,1,11"])
    a = write(
        tmp_path / "a.csv",
        [
            GOOD[0],
            BAD,
            *GOOD[1:5],
            "",
            "F6,2024-01-09,C1",  # ragged
            *GOOD[5:],
            "",
            "F8,2024-03-01 09:00,C8,P8,Tavel,1,11",  # landed by the earlier batch
        ],
    )
    b = write(tmp_path / "b.csv", [GOOD[2], "F9,2024-01-10 10:00,C9,P9,Chinon,1,9", GOOD[6], BAD])
    load_files(db, "sales", [earlier], LoadOptions(batch_id="earlier"))
    blocks = _blocks_used(monkeypatch)
    in_memory = parse.MEMORY_KEYS
    # every set of keys (occurrences, the batch's earlier lines, the landed ones) on disk
    monkeypatch.setattr(parse, "MEMORY_KEYS", 2)
    in_blocks = _batch(db, monkeypatch, [a, b], 64, 2, "b")
    assert blocks[0] >= 6 and blocks[1] >= 3  # both files were read in blocks
    monkeypatch.setattr(parse, "MEMORY_KEYS", in_memory)
    _reset(db)
    load_files(db, "sales", [earlier], LoadOptions(batch_id="earlier"))
    whole = _batch(db, monkeypatch, [a, b], 1 << 30, 1 << 18, "b")
    assert in_blocks == whole
    landed, rejects, files, _, rows_read = whole
    # a.csv: 11 rows read (blank lines are not rows, but keep their place in the numbering), 2
    # rejected (bad date, ragged), 1 already landed; b.csv: 4 rows, 1 rejected, 2 already in
    # a.csv (first file wins)
    assert [f[:4] for f in files] == [(11, 8, 2, 1), (4, 1, 1, 2)]
    assert rows_read == [11, 4]
    assert [(r[0][-5:], r[1], r[3]) for r in rejects] == [
        ("a.csv", 2, ["bad_date"]),
        ("a.csv", 8, ["ragged_row"]),
        ("b.csv", 4, ["bad_date"]),
    ]
    assert rejects[1][2] == "F6,2024-01-09,C1"  # the raw text of the row, from its own block
    assert len(landed) == 1 + 8 + 1


def test_a_number_columns_decimal_separator_is_decided_by_a_value_in_the_last_block(
    db, tmp_path, monkeypatch
):
    # '1,500' reads two ways; the column's last value ('2,5') tells that ',' is its decimal
    # separator, so '1,500' is 1.5 in every block, not an ambiguous number.
    lines = [f"F{i},2024-01-05,C1,P1,Chablis,1,1,500" for i in range(12)] + ["F99,2024-01-05,C1,P1,x,1,2,5"]
    f = tmp_path / "comma.csv"
    f.write_text(
        "doc_ref;order_date;customer_code;product_key;product_label;quantity;unit_price\n"
        + "".join(line.replace(",", ";", 6) + "\n" for line in lines)
    )
    blocks = _blocks_used(monkeypatch)
    monkeypatch.setattr(load, "BLOCK_BYTES", 64)
    monkeypatch.setattr(load, "STREAM_ROWS", 3)
    report = load_files(db, "sales", [f])
    assert blocks and blocks[0] >= 6
    assert (report.loaded, report.rejected) == (13, 0)
    assert rows(db, "select distinct unit_price::text from raw.sales_line order by 1") == [
        ("1.5000",),
        ("2.5000",),
    ]


@pytest.mark.parametrize(
    "line_end, last_end",
    [("\n", "\n"), ("\n", ""), ("\r\n", "\r\n"), ("\r\n", "")],
    ids=["LF", "LF, none at the end", "CRLF", "CRLF, none at the end"],
)
def test_a_file_repeating_itself_is_told_when_its_halves_are_in_different_blocks(
    db, tmp_path, monkeypatch, line_end, last_end
):
    # (the rows' text is compared with its line end when every line ends with a LF alone,
    # without it otherwise: the last line without one still matches its twin)
    f = tmp_path / "twice.csv"
    f.write_bytes((line_end.join([HEADER.strip(), *GOOD[:4] * 2]) + last_end).encode())
    monkeypatch.setattr(load, "BLOCK_BYTES", 64)
    report = load_files(db, "sales", [f])
    assert "repeats the first half (rows 1-4)" in report.files[0].warnings[0]
    assert report.loaded == 8  # repeated lines count: it only warns


def test_a_file_repeating_itself_with_its_header_again_is_told_in_blocks(db, tmp_path, monkeypatch):
    f = tmp_path / "twice.csv"
    f.write_text(
        HEADER
        + "".join(f"{line}\n" for line in GOOD[:4])
        + HEADER
        + "".join(f"{line}\n" for line in GOOD[:4])
    )
    monkeypatch.setattr(load, "BLOCK_BYTES", 64)
    report = load_files(db, "sales", [f])
    assert "row 5 is the header again" in report.files[0].warnings[0]
