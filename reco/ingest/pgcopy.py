"""PostgreSQL binary COPY of a Polars frame, encoded column by column (numpy and Arrow kernels,
no Python per row), and sent in chunks over psycopg while the server parses the previous ones.

The binary COPY format (PostgreSQL docs, "COPY", "Binary Format"): a signature and header, then
per row a 16-bit field count and per field a 32-bit length (-1 for NULL) followed by the value
in the type's binary ``send`` format, then a 16-bit -1 trailer. Every integer is big-endian.
Each chunk is built as one Arrow ``large_binary`` array whose row ``i`` is the whole encoded
row ``i``: the fixed-width parts of consecutive fields are laid out in one numpy structured
array, and ``binary_join_element_wise`` concatenates them with the variable-width values
(text, bytes, JSON); the data buffer of the result is the stream itself.

Types (Polars → PostgreSQL binary format):

- Int16 / Int32 / Int64, Float32 / Float64, Boolean: as they are (big-endian);
- Date: days since 2000-01-01 (int32); Datetime: microseconds since 2000-01-01 (int64), naive
  for ``timestamp``, UTC for ``timestamptz`` (what Polars stores for a zoned datetime);
- Decimal(p, s): ``numeric`` (ndigits, weight, sign, dscale, base-10000 digits), for values
  whose unscaled integer fits 64 bits (|x| < 9.2e18 / 10^s; every raw column is numeric(18, 4));
- String: UTF-8 bytes (``text``, ``varchar``); Binary: the bytes (``bytea``, and ``uuid`` for
  16 bytes); List(String): ``jsonb`` (version 1 and the JSON text of the list).
"""

from __future__ import annotations

import sys

import numpy as np
import polars as pl
import pyarrow as pa
import pyarrow.compute as pc
from psycopg import Cursor
from psycopg.copy import QueuedLibpqWriter

SIGNATURE = b"PGCOPY\n\xff\r\n\x00" + b"\x00\x00\x00\x00" + b"\x00\x00\x00\x00"
TRAILER = b"\xff\xff"
#: Rows per encoded chunk: large enough for the kernels, small enough that the server starts
#: parsing early and that encoding chunk k + 1 overlaps the server reading chunk k.
CHUNK_ROWS = 1 << 16

_PG_EPOCH_DAYS = 10_957  # 2000-01-01 - 1970-01-01
_PG_EPOCH_US = _PG_EPOCH_DAYS * 86_400 * 1_000_000
_EMPTY = pa.scalar(b"", pa.large_binary())

if sys.byteorder != "little":  # pragma: no cover - decimals are read from Arrow's buffers
    raise ImportError("reco.ingest.pgcopy assumes a little-endian machine")


def pg_type(dtype: pl.DataType) -> str:
    """The PostgreSQL type a column of this Polars type is sent as (for temporary tables)."""
    if isinstance(dtype, pl.Decimal):
        return f"numeric({dtype.precision or 38}, {dtype.scale})"
    if isinstance(dtype, pl.Datetime):
        return "timestamptz" if dtype.time_zone else "timestamp"
    if isinstance(dtype, pl.List) and dtype.inner == pl.String:
        return "jsonb"
    simple = {
        pl.Int16: "smallint",
        pl.Int32: "integer",
        pl.Int64: "bigint",
        pl.Float32: "real",
        pl.Float64: "double precision",
        pl.Boolean: "boolean",
        pl.String: "text",
        pl.Binary: "bytea",
        pl.Date: "date",
        pl.Null: "text",  # only NULLs: any type takes them
    }
    for polars_type, name in simple.items():
        if dtype == polars_type:
            return name
    raise TypeError(f"no binary COPY encoding for Polars type {dtype}")


class _Row:
    """The pieces of one chunk's rows: runs of fixed-width fields, and variable-width values."""

    def __init__(self, n: int) -> None:
        self.n = n
        self.pieces: list[pa.LargeBinaryArray] = []
        self._fields: list[tuple[str | np.dtype, np.ndarray | int]] = []

    def fixed(self, dtype: str | np.dtype, values: np.ndarray | int) -> None:
        self._fields.append((dtype, values))

    def variable(self, values: pa.Array) -> None:
        self._flush()
        self.pieces.append(values)

    def _flush(self) -> None:
        if not self._fields:
            return
        layout = np.dtype([(f"f{i}", dtype) for i, (dtype, _) in enumerate(self._fields)])
        block = np.empty(self.n, dtype=layout)
        for i, (_, values) in enumerate(self._fields):
            block[f"f{i}"] = values
        self._fields = []
        offsets = np.arange(self.n + 1, dtype=np.int64) * layout.itemsize
        self.pieces.append(_binary(offsets, block.view(np.uint8)))

    def encoded(self) -> pa.Buffer:
        """The rows' bytes, one after the other."""
        self._flush()
        if len(self.pieces) == 1:
            joined = self.pieces[0]
        else:
            joined = pc.binary_join_element_wise(*self.pieces, _EMPTY)
        first, last = joined.offset, joined.offset + len(joined)
        offsets = np.frombuffer(joined.buffers()[1], dtype=np.int64)
        start, stop = int(offsets[first]), int(offsets[last])
        return joined.buffers()[2][start:stop]


def _binary(offsets: np.ndarray, data: np.ndarray) -> pa.LargeBinaryArray:
    return pa.LargeBinaryArray.from_buffers(
        pa.large_binary(), offsets.size - 1, [None, pa.py_buffer(offsets), pa.py_buffer(data)]
    )


def _lengths(valid: np.ndarray | None, width: np.ndarray | int) -> np.ndarray | int:
    """The field length word: the value's width, -1 where NULL."""
    if valid is None:
        return width
    return np.where(valid, width, -1)


def _fixed_values(s: pl.Series) -> tuple[str, np.ndarray]:
    """Big-endian dtype and values of a fixed-width column (nulls filled with anything)."""
    dtype = s.dtype
    if dtype == pl.Boolean:
        return "u1", s.fill_null(False).cast(pl.UInt8).to_numpy()
    if dtype == pl.Date:
        return ">i4", s.cast(pl.Int32).fill_null(0).to_numpy() - np.int32(_PG_EPOCH_DAYS)
    if isinstance(dtype, pl.Datetime):
        us = s.dt.cast_time_unit("us").cast(pl.Int64).fill_null(0).to_numpy()
        return ">i8", us - np.int64(_PG_EPOCH_US)
    codes = {pl.Int16: ">i2", pl.Int32: ">i4", pl.Int64: ">i8", pl.Float32: ">f4", pl.Float64: ">f8"}
    for polars_type, code in codes.items():
        if dtype == polars_type:
            return code, s.fill_null(0).to_numpy()
    raise TypeError(f"no binary COPY encoding for Polars type {dtype}")


def _unscaled(s: pl.Series) -> np.ndarray:
    """The 64-bit unscaled integers of a Decimal column (value × 10^scale), nulls as 0."""
    arr = s.fill_null(0).to_arrow()
    if isinstance(arr, pa.ChunkedArray):
        arr = arr.combine_chunks()
    words = np.frombuffer(arr.buffers()[1], dtype=np.int64).reshape(-1, 2)[arr.offset : arr.offset + len(arr)]
    low, high = words[:, 0], words[:, 1]
    if not np.array_equal(high, low >> 63):
        raise ValueError(f"column {s.name}: a decimal value does not fit 64 bits")
    return low


def _numeric(s: pl.Series) -> np.ndarray:
    """``numeric``'s binary format (ndigits, weight, sign, dscale, base-10000 digits) with a
    fixed number of digits per column: enough whole groups for the largest value, then
    ceil(scale / 4) fraction groups. Leading and trailing zero groups are allowed: the server
    strips them (``make_result``), so what it stores is canonical."""
    scale = s.dtype.scale
    unscaled = _unscaled(s)
    magnitude = np.abs(unscaled).astype(np.uint64)  # |-2^63| fits uint64
    whole, fraction = np.divmod(magnitude, np.uint64(10**scale))
    fraction_groups = -(-scale // 4)
    fraction = fraction * np.uint64(10 ** (4 * fraction_groups - scale))
    largest = int(whole.max()) if whole.size else 0
    whole_groups = max(1, -(-len(str(largest)) // 4))
    ndigits = whole_groups + fraction_groups
    head = [("ndigits", ">i2"), ("weight", ">i2"), ("sign", ">u2"), ("dscale", ">i2")]
    block = np.empty(len(s), dtype=head + [(f"d{i}", ">i2") for i in range(ndigits)])
    block["ndigits"] = ndigits
    block["weight"] = whole_groups - 1  # the first group counts 10000^(whole_groups - 1)
    block["sign"] = np.where(unscaled < 0, 0x4000, 0)
    block["dscale"] = scale
    ten_k = np.uint64(10_000)
    for i in range(whole_groups):
        block[f"d{i}"] = whole // ten_k ** np.uint64(whole_groups - 1 - i) % ten_k
    for i in range(fraction_groups):
        block[f"d{whole_groups + i}"] = fraction // ten_k ** np.uint64(fraction_groups - 1 - i) % ten_k
    return block


def _bytes(s: pl.Series) -> pa.LargeBinaryArray:
    """The UTF-8 bytes (String) or the bytes (Binary) of each value, nulls empty."""
    filled = s.fill_null("" if s.dtype == pl.String else b"")
    arr = filled.to_arrow(compat_level=pl.CompatLevel.oldest())
    if isinstance(arr, pa.ChunkedArray):
        arr = arr.combine_chunks()
    return arr.view(pa.large_binary()) if arr.type == pa.large_string() else arr.cast(pa.large_binary())


def _fixed_field(row: _Row, block: np.ndarray, valid: np.ndarray | None) -> None:
    """A fixed-width value per row (a numpy array, possibly structured): its length word, then
    the value; a NULL sends no value bytes, so with NULLs the values are a variable piece."""
    width = block.dtype.itemsize
    row.fixed(">i4", _lengths(valid, width))
    if valid is None:
        row.fixed(block.dtype, block)
    else:
        offsets = np.concatenate(([0], np.cumsum(valid * width))).astype(np.int64)
        row.variable(_binary(offsets, np.ascontiguousarray(block[valid]).view(np.uint8)))


def _field(row: _Row, s: pl.Series) -> None:
    nulls = s.null_count()
    if nulls == len(s):
        row.fixed(">i4", -1)
        return
    valid = s.is_not_null().to_numpy() if nulls else None
    dtype = s.dtype
    if isinstance(dtype, pl.Decimal):
        _fixed_field(row, _numeric(s), valid)
    elif dtype in (pl.String, pl.Binary):
        width = (s.str.len_bytes() if dtype == pl.String else s.bin.size()).fill_null(0).to_numpy()
        row.fixed(">i4", _lengths(valid, width))
        row.variable(_bytes(s))
    elif isinstance(dtype, pl.List) and dtype.inner == pl.String:
        text = pl.DataFrame({"v": s}).select(pl.struct("v").struct.json_encode()).to_series()
        # {"v":[...]} -> [...] (by bytes, not characters: the tags may not be ASCII)
        text = text.str.strip_prefix('{"v":').str.strip_suffix("}")
        row.fixed(">i4", _lengths(valid, text.str.len_bytes().to_numpy() + 1))
        if valid is None:
            row.fixed("u1", 1)  # jsonb version
            row.variable(_bytes(text))
        else:
            versioned = pl.when(pl.Series(valid)).then(pl.lit("\x01") + text)
            row.variable(_bytes(pl.select(versioned).to_series()))
    else:
        code, values = _fixed_values(s)
        _fixed_field(row, values.astype(code), valid)


def encode_rows(frame: pl.DataFrame) -> pa.Buffer:
    """The binary COPY rows of a frame (no header or trailer)."""
    row = _Row(frame.height)
    row.fixed(">i2", frame.width)
    for s in frame.iter_columns():
        _field(row, s)
    return row.encoded()


def _q(name: str) -> str:
    return '"' + name.replace('"', '""') + '"'


class CopyWriter:
    """One binary COPY into ``table`` (qualified and quoted as needed), of the columns given
    (by name), fed frame by frame: ``with CopyWriter(cur, table, columns) as w: w.write(frame)``.
    A writer thread sends each chunk while the next one is encoded; leaving on an error ends
    the COPY as failed."""

    def __init__(self, cur: Cursor, table: str, columns: list[str]) -> None:
        self.columns = columns
        statement = f"copy {table} ({', '.join(_q(c) for c in columns)}) from stdin (format binary)"
        self._context = cur.copy(statement, writer=QueuedLibpqWriter(cur))

    def __enter__(self) -> CopyWriter:
        self._copy = self._context.__enter__()
        self._copy.write(SIGNATURE)
        return self

    def write(self, frame: pl.DataFrame, chunk_rows: int = CHUNK_ROWS) -> None:
        if frame.columns != self.columns:
            raise ValueError(f"columns {frame.columns} sent to a COPY of {self.columns}")
        for s in frame.iter_columns():
            pg_type(s.dtype)  # refuse an unknown type before the first byte
        for start in range(0, frame.height, chunk_rows):
            self._copy.write(memoryview(encode_rows(frame.slice(start, chunk_rows))))

    def __exit__(self, *exc) -> None:
        if exc[0] is None:
            self._copy.write(TRAILER)
        self._context.__exit__(*exc)


def copy_frame(cur: Cursor, table: str, frame: pl.DataFrame, chunk_rows: int = CHUNK_ROWS) -> None:
    """COPY the frame's columns (by name) into ``table`` (qualified and quoted as needed).
    A writer thread sends each chunk while the next one is encoded."""
    with CopyWriter(cur, table, frame.columns) as writer:
        writer.write(frame, chunk_rows)


def create_temp(cur: Cursor, name: str, frame: pl.DataFrame) -> None:
    """A temporary table with the frame's columns, filled by binary COPY."""
    columns = ", ".join(f"{_q(c)} {pg_type(t)}" for c, t in frame.schema.items())
    cur.execute(f"create temporary table {_q(name)} ({columns})")
    copy_frame(cur, f"pg_temp.{_q(name)}", frame)
