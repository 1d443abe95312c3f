"""Reading export files (CSV, Parquet, XLSX) into a frame of source columns, one row per record.

Every record keeps its source row number (1 = first record after the header) and its raw text,
so that a rejected row can be stored verbatim. CSV records are found with a quote-aware,
vectorised scan of the bytes (numpy), which also finds ragged records (a field count that
differs from the header) before Polars parses the rest.
"""

from __future__ import annotations

import codecs
import csv
import hashlib
import io
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import polars as pl
import pyarrow as pa

from reco.errors import RecoError

ROW = "__row"
RAW = "__raw"
DELIMITERS = (",", ";", "|", "\t")
_QUOTE = ord('"')
_NL = ord("\n")


@dataclass
class SourceFile:
    path: Path
    format: str  # csv | parquet | xlsx
    sha256: str
    bytes: int
    encoding: str | None = None
    delimiter: str | None = None
    headers: list[str] | None = None
    #: One row per usable record: the source columns and ROW.
    frame: pl.DataFrame | None = None
    #: Records that could not even be split into the header's columns: ROW, RAW, details.
    ragged: pl.DataFrame | None = None
    #: CSV: every record's text, line end included (zero-copy over the decoded file), and the
    #: index of the record of row 1 minus one: record ``row + records_offset`` is row ``row``.
    records: pa.LargeStringArray | None = None
    records_offset: int = 0

    def raw_text(self, rows: pl.Series) -> pl.Series:
        """The CSV text of these rows, line end removed: only ever built for rejected rows."""
        taken = self.records.take(pa.array(rows.to_numpy() + self.records_offset))
        return pl.Series(RAW, taken, dtype=pl.String).str.strip_suffix("\n").str.strip_suffix("\r")

    @property
    def rows_read(self) -> int:
        return (0 if self.frame is None else self.frame.height) + (
            0 if self.ragged is None else self.ragged.height
        )


def sha256_of(path: Path) -> tuple[str, int]:
    h = hashlib.sha256()
    size = 0
    with path.open("rb") as fh:
        while chunk := fh.read(1 << 20):
            h.update(chunk)
            size += len(chunk)
    return h.hexdigest(), size


def file_format(path: Path, head: bytes) -> str:
    if head.startswith(b"PAR1"):
        return "parquet"
    if head.startswith(b"PK\x03\x04"):
        return "xlsx"
    suffix = path.suffix.lower()
    if suffix in (".parquet", ".pq"):
        return "parquet"
    if suffix in (".xlsx", ".xlsm", ".xls"):
        return "xlsx"
    return "csv"


def read_file(
    path: Path,
    *,
    encoding: str | None = None,
    delimiter: str | None = None,
    sha256: tuple[str, int] | None = None,
) -> SourceFile:
    """Read one export, or raise one RecoError naming the file (and the row). ``sha256`` is
    the (digest, size) when the caller already has it."""
    if not path.is_file():
        raise RecoError(f"{path}: no such file")
    digest, size = sha256 or sha256_of(path)
    with path.open("rb") as fh:
        head = fh.read(8)
    fmt = file_format(path, head)
    src = SourceFile(path=path, format=fmt, sha256=digest, bytes=size)
    if fmt == "csv":
        _read_csv(src, encoding, delimiter)
    else:
        _read_table(src)
    return src


# -- Parquet and XLSX --------------------------------------------------------------------------


def _read_table(src: SourceFile) -> None:
    try:
        if src.format == "parquet":
            df = pl.read_parquet(src.path)
        else:
            df = pl.read_excel(src.path, engine="calamine")
    except Exception as exc:  # the readers raise many types; all mean "unreadable"
        first = str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__
        raise RecoError(f"{src.path}: cannot read this {src.format} file: {first}") from None
    if df.width == 0:
        raise RecoError(f"{src.path}: empty file (no header row)")
    src.headers = df.columns
    # No RAW column: the raw text of a rejected row (a JSON object of its values) is only
    # built for rejected rows (see parse.typed_frame).
    src.frame = df.with_columns(pl.int_range(1, pl.len() + 1, dtype=pl.Int64).alias(ROW))
    src.ragged = pl.DataFrame(schema={ROW: pl.Int64, RAW: pl.String, "details": pl.String})


# -- CSV -----------------------------------------------------------------------------------------


def _decode(src: SourceFile, data: bytes, forced: str | None) -> bytes:
    """Return the file as UTF-8 bytes (BOM removed) and record the encoding used."""
    if forced:
        try:
            codec = codecs.lookup(forced).name
        except LookupError:
            raise RecoError(f"unknown encoding {forced!r} (try utf-8, utf-8-sig, cp1252, latin-1)") from None
        try:
            text = data.decode(codec)
        except UnicodeDecodeError as exc:
            line = data.count(b"\n", 0, exc.start) + 1
            raise RecoError(
                f"{src.path}: not valid {forced} at line {line} (byte 0x{data[exc.start]:02x}); "
                "check --encoding (utf-8, cp1252 and latin-1 are common)"
            ) from None
        src.encoding = codec
        return text.lstrip("\ufeff").encode("utf-8")
    if data.startswith(codecs.BOM_UTF8):
        src.encoding = "utf-8-sig"
        body = data[len(codecs.BOM_UTF8) :]
        try:
            body.decode("utf-8")
        except UnicodeDecodeError as exc:
            line = body.count(b"\n", 0, exc.start) + 1
            raise RecoError(
                f"{src.path}: starts with a UTF-8 BOM but is not valid UTF-8 at line {line}"
            ) from None
        return body
    if data.startswith((codecs.BOM_UTF16_LE, codecs.BOM_UTF16_BE)):
        src.encoding = "utf-16"
        return data.decode("utf-16").encode("utf-8")
    if b"\x00" in data[:65536]:
        raise RecoError(
            f"{src.path}: unreadable encoding (NUL bytes: a binary file or UTF-16 without a BOM); "
            "export as CSV in UTF-8 or cp1252, or pass --encoding"
        )
    try:
        data.decode("utf-8")
        src.encoding = "utf-8"
        return data
    except UnicodeDecodeError:
        pass
    for codec in ("cp1252", "latin-1"):
        try:
            text = data.decode(codec)
        except UnicodeDecodeError:
            continue
        src.encoding = codec
        return text.encode("utf-8")
    raise AssertionError("latin-1 decodes any bytes")  # pragma: no cover


def _sniff(src: SourceFile, header: bytes) -> str:
    """The delimiter: the candidate found most often (outside quotes) in the header record."""
    text = header.decode("utf-8")
    counts = {}
    for d in DELIMITERS:
        counts[d] = sum(len(part.split(d)) - 1 for i, part in enumerate(text.split('"')) if i % 2 == 0)
    best = max(DELIMITERS, key=lambda d: counts[d])
    return best if counts[best] > 0 else ","


def _record_bounds(
    src: SourceFile, arr: np.ndarray, quoted: bool
) -> tuple[np.ndarray, np.ndarray, np.ndarray | None]:
    """Start and end (exclusive, newline excluded) of each record, and the inside-quotes state
    after each byte (None when the file has no quote at all: ``quoted`` false, common for
    machine exports, so no state to track). A newline inside a quoted field does not end a
    record."""
    if not quoted:
        ends = np.flatnonzero(arr == _NL)
        if arr.size and (ends.size == 0 or ends[-1] != arr.size - 1):
            ends = np.append(ends, arr.size)
        starts = np.concatenate(([0], ends[:-1] + 1)).astype(np.int64)
        return starts, ends.astype(np.int64), None
    in_quotes = np.bitwise_xor.accumulate((arr == _QUOTE).view(np.uint8))
    if in_quotes.size and in_quotes[-1]:
        settled = np.flatnonzero(in_quotes == 0)
        opening = int(settled[-1]) + 1 if settled.size else 0
        line = int(np.count_nonzero(arr[:opening] == _NL)) + 1
        raise RecoError(f"{src.path}: unterminated quoted field starting on line {line}")
    ends = np.flatnonzero((arr == _NL) & (in_quotes == 0))
    if arr.size and (ends.size == 0 or ends[-1] != arr.size - 1):
        ends = np.append(ends, arr.size)
    starts = np.concatenate(([0], ends[:-1] + 1)).astype(np.int64)
    return starts, ends.astype(np.int64), in_quotes


def _read_csv(src: SourceFile, encoding: str | None, delimiter: str | None) -> None:
    data = _decode(src, src.path.read_bytes(), encoding)
    if not data or data.isspace():  # (data.strip() would copy the file)
        raise RecoError(f"{src.path}: empty file (no header row)")
    arr = np.frombuffer(data, dtype=np.uint8)
    starts, ends, in_quotes = _record_bounds(src, arr, b'"' in data)
    # Trailing CR of CRLF files is not part of a record.
    cr = np.zeros(ends.size, dtype=bool)
    nonempty = ends > starts
    cr[nonempty] = arr[ends[nonempty] - 1] == ord("\r")
    content_ends = ends - cr
    blank = content_ends == starts
    first = int(np.argmax(~blank))  # the header is the first non-blank record
    header_bytes = data[starts[first] : content_ends[first]]
    sep = delimiter or _sniff(src, header_bytes)
    src.delimiter = sep
    headers = next(csv.reader(io.StringIO(header_bytes.decode("utf-8")), delimiter=sep))
    headers = [h.strip() for h in headers]
    dupes = sorted({h for h in headers if headers.count(h) > 1})
    if dupes:
        raise RecoError(f"{src.path}: column {dupes[0]!r} appears more than once in the header")
    if any(h == "" for h in headers):
        pos = headers.index("") + 1
        raise RecoError(f"{src.path}: column {pos} of the header has no name")
    src.headers = headers

    # Field count of every record: delimiters outside quotes before its end, minus those
    # before the previous record's end, plus one.
    is_sep = arr == ord(sep)
    seps = np.flatnonzero(is_sep if in_quotes is None else is_sep & (in_quotes == 0))
    fields = np.diff(np.searchsorted(seps, ends), prepend=0) + 1

    index = np.arange(ends.size)
    body = index > first
    row_no = index - first  # 1-based position after the header (blank lines count)
    ragged = body & ~blank & (fields != len(headers))
    good = body & ~blank & ~ragged

    offsets = np.append(starts, arr.size).astype(np.int64)
    # Each record's text, line end included: zero-copy, only copied for rejected rows.
    src.records = pa.LargeStringArray.from_buffers(ends.size, pa.py_buffer(offsets), pa.py_buffer(data))
    src.records_offset = first
    bad_rows = pl.Series(ROW, row_no[ragged], dtype=pl.Int64)
    src.ragged = pl.DataFrame(
        {
            ROW: bad_rows,
            RAW: src.raw_text(bad_rows),
            "fields": pl.Series(fields[ragged], dtype=pl.Int64),
        }
    ).select(
        ROW,
        RAW,
        details=pl.format(
            "row has {} fields, the header has {} (delimiter {})",
            "fields",
            pl.lit(len(headers)),
            pl.lit(repr(sep)),
        ),
    )
    kept = pl.DataFrame({ROW: pl.Series(ROW, row_no[good], dtype=pl.Int64)})
    if kept.height == 0:
        src.frame = pl.DataFrame(schema={h: pl.String for h in headers}).with_columns(kept)
        return
    if good[first + 1 :].all():
        payload = data[starts[first + 1] :] if first + 1 < ends.size else b""
    else:
        lengths = offsets[1:] - offsets[:-1]
        payload = arr[np.repeat(good, lengths)].tobytes()
    if not payload.endswith(b"\n"):
        payload += b"\n"
    try:
        frame = pl.read_csv(
            io.BytesIO(payload),
            has_header=False,
            schema={h: pl.String for h in headers},
            separator=sep,
            quote_char='"',
            empty_string_is_null=False,
        )
    except pl.exceptions.PolarsError as exc:
        first_line = str(exc).strip().splitlines()[0]
        raise RecoError(f"{src.path}: cannot parse as CSV (delimiter {sep!r}): {first_line}") from None
    if frame.height != kept.height:
        raise RecoError(
            f"{src.path}: found {kept.height} records but the CSV parser read {frame.height}; "
            "check quoting in the file"
        )
    src.frame = pl.concat([frame, kept], how="horizontal")
