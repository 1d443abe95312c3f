"""Reading export files (CSV, Parquet, XLSX) into a frame of source columns, one row per record.

Every record keeps its source row number (1 = first record after the header) and its raw text,
so that a rejected row can be stored verbatim. CSV records are found with a quote-aware,
vectorised scan of the bytes (numpy), which also finds ragged records (a field count that
differs from the header) before Polars parses the rest.
"""

from __future__ import annotations

import codecs
import csv
import gzip
import hashlib
import io
import stat
import tempfile
import zipfile
import zlib
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import polars as pl
import pyarrow as pa
from charset_normalizer import from_bytes

from reco.errors import RecoError

ROW = "__row"
RAW = "__raw"
DELIMITERS = (",", ";", "|", "\t")
_QUOTE = ord('"')
_NL = ord("\n")
_CR = ord("\r")
#: Single-byte reading of a file that is neither UTF-8 nor marked by a BOM, when the detector
#: agrees (latin-1 when the file has bytes that cp1252 leaves undefined).
SINGLE_BYTE = ("cp1252", "latin-1")


#: A CSV file (uncompressed, UTF-8) larger than this is read in blocks of about this many bytes,
#: each cut at the end of a record (see ``SourceFile.pieces``); smaller files are read whole.
BLOCK_BYTES = 32 << 20
#: Of a file read in blocks, the first blocks parsed are kept for the second pass while they
#: hold at most this many bytes of the file (the rest is read and parsed again).
KEEP_BYTES = 80 << 20


@dataclass
class Piece:
    """Consecutive records of a file: its usable records' source columns and ROW (``frame``),
    the records that could not be split into the header's columns (``ragged``: ROW, RAW,
    details), and (CSV) the records' text."""

    frame: pl.DataFrame
    ragged: pl.DataFrame
    #: CSV: every record's text, line end included (zero-copy over the bytes read), and the
    #: index of the record of row 0 in it: record ``row + records_offset`` is row ``row``.
    records: pa.LargeStringArray | None = None
    records_offset: int = 0

    def raw_text(self, rows: pl.Series) -> pl.Series:
        """The CSV text of these rows, line end removed: only ever built for rejected rows."""
        taken = self.records.take(pa.array(rows.to_numpy() + self.records_offset))
        return pl.Series(RAW, taken, dtype=pl.String).str.strip_suffix("\n").str.strip_suffix("\r")


@dataclass
class SourceFile:
    path: Path
    format: str  # csv | parquet | xlsx
    sha256: str
    bytes: int
    encoding: str | None = None
    #: How the encoding was chosen: "given" (--encoding or the mapping), "BOM" or "detected".
    encoding_chosen_by: str | None = None
    #: What the detection saw (valid UTF-8, or charset-normalizer's candidates).
    encoding_detail: str | None = None
    delimiter: str | None = None
    #: "gzip" or "zip" for a compressed export; ``member`` is the file read inside a zip, and
    #: ``content_sha256`` the sha256 of the decompressed bytes that were read.
    compression: str | None = None
    member: str | None = None
    content_sha256: str | None = None
    #: Things the load should say without refusing the file (a file that repeats itself).
    warnings: list[str] = field(default_factory=list)
    headers: list[str] | None = None
    #: One row per usable record: the source columns and ROW.
    frame: pl.DataFrame | None = None
    #: Records that could not even be split into the header's columns: ROW, RAW, details.
    ragged: pl.DataFrame | None = None
    #: CSV: every record's text, line end included (zero-copy over the decoded file), and the
    #: index of the record of row 1 minus one: record ``row + records_offset`` is row ``row``.
    records: pa.LargeStringArray | None = None
    records_offset: int = 0

    #: A CSV file read in blocks (``frame`` and ``records`` are then None).
    blocks: _Blocks | None = None

    def raw_text(self, rows: pl.Series) -> pl.Series:
        return Piece(self.frame, self.ragged, self.records, self.records_offset).raw_text(rows)

    def pieces(self, last: bool = True) -> Iterator[Piece]:
        """The file's records in file order, in pieces: the whole file in one, or a file read
        in blocks one block at a time. The first walk over a file read in blocks is its first
        pass: it counts the rows (``rows``, ``rows_read``), gathers the ragged records and the
        warnings, and keeps the first pieces for the next walk; ``last``: no walk comes after
        this one (the kept pieces are let go as they are given)."""
        if self.blocks is None:
            yield Piece(self.frame, self.ragged, self.records, self.records_offset)
        else:
            yield from self.blocks.pieces(self, last)

    @property
    def rows(self) -> int:
        """Usable records (a file read in blocks: known after its first pass)."""
        return self.blocks.rows if self.blocks is not None else self.frame.height

    @property
    def rows_read(self) -> int:
        return self.rows + (0 if self.ragged is None else self.ragged.height)


def sha256_of(path: Path) -> tuple[str, int]:
    h = hashlib.sha256()
    size = 0
    with path.open("rb") as fh:
        while chunk := fh.read(1 << 20):
            h.update(chunk)
            size += len(chunk)
    return h.hexdigest(), size


def check_file(path: Path) -> None:
    """One line naming the path when it is not a regular file that can be loaded."""
    try:
        mode = path.stat().st_mode
    except FileNotFoundError:
        raise RecoError(f"{path}: no such file") from None
    except OSError as exc:
        raise RecoError(f"{path}: cannot open ({exc.strerror})") from None
    if stat.S_ISDIR(mode):
        raise RecoError(f"{path}: is a directory, not an export file (give the files in it)")
    if not stat.S_ISREG(mode):
        kind = (
            "a character device"
            if stat.S_ISCHR(mode)
            else "a block device"
            if stat.S_ISBLK(mode)
            else "a pipe"
            if stat.S_ISFIFO(mode)
            else "a socket"
            if stat.S_ISSOCK(mode)
            else "not a file"
        )
        raise RecoError(f"{path}: not a regular file ({kind}); give a CSV, Parquet or XLSX file")


def file_format(path: Path, head: bytes) -> str:
    """csv, parquet or xlsx, from the first bytes (an uncompressed file) and the name."""
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


_GZIP = b"\x1f\x8b"
_ZIP = b"PK\x03\x04"
_EMPTY_ZIP = b"PK\x05\x06"


def _unzip(src: SourceFile) -> bytes | None:
    """The one export inside a zip (None when the zip is a workbook: XLSX is a zip too)."""
    try:
        with zipfile.ZipFile(src.path) as z:
            names = z.namelist()
            if "[Content_Types].xml" in names or any(n.startswith("xl/") for n in names):
                return None
            members = [i for i in z.infolist() if not i.is_dir() and not i.filename.startswith("__MACOSX/")]
            if len(members) != 1:
                shown = ", ".join(repr(m.filename) for m in members[:5])
                more = f" and {len(members) - 5} more" if len(members) > 5 else ""
                found = f"{len(members)} files ({shown}{more})" if members else "no file"
                raise RecoError(
                    f"{src.path}: a zip must hold exactly one export file; it holds {found}. "
                    "Unzip it and load the files one by one"
                )
            src.compression, src.member = "zip", members[0].filename
            return z.read(members[0])
    except (zipfile.BadZipFile, zlib.error, OSError, NotImplementedError) as exc:
        raise RecoError(f"{src.path}: cannot read this zip file: {exc}") from None


def _gunzip(src: SourceFile) -> bytes:
    try:
        data = gzip.decompress(src.path.read_bytes())
    except (gzip.BadGzipFile, zlib.error, EOFError, OSError) as exc:
        raise RecoError(f"{src.path}: cannot decompress this gzip file: {exc}") from None
    src.compression = "gzip"
    return data


def read_file(
    path: Path,
    *,
    encoding: str | None = None,
    delimiter: str | None = None,
    sha256: tuple[str, int] | None = None,
    block_bytes: int | None = None,
) -> SourceFile:
    """Read one export, or raise one RecoError naming the file (and the row). ``sha256`` is
    the (digest, size) when the caller already has it. A ``.gz`` file, or a zip holding one
    file, is read as the file it holds. An uncompressed UTF-8 CSV file larger than
    ``block_bytes`` (default ``BLOCK_BYTES``) is read in blocks (``SourceFile.pieces``): here
    only its bytes are checked and its header read."""
    check_file(path)
    digest, size = sha256 or sha256_of(path)
    with path.open("rb") as fh:
        head = fh.read(8)
    src = SourceFile(path=path, format="csv", sha256=digest, bytes=size)
    data = None
    if head.startswith(_GZIP):
        data = _gunzip(src)
    elif head.startswith((_ZIP, _EMPTY_ZIP)):
        data = _unzip(src)
    if data is None:
        src.format = file_format(path, head)
    else:
        src.content_sha256 = hashlib.sha256(data).hexdigest()
        inner = Path(src.member or path.with_suffix("").name)
        src.format = file_format(inner, data[:8])
    block_bytes = block_bytes or BLOCK_BYTES
    if src.format == "csv" and data is None and size > block_bytes:
        src.blocks = _Blocks.plan(src, encoding, delimiter, block_bytes)
        if src.blocks is not None:
            return src  # warnings: after the first pass
    if src.format == "csv":
        _read_csv(src, src.path.read_bytes() if data is None else data, encoding, delimiter)
    else:
        _read_table(src, data)
    src.warnings += _repeats(src)
    return src


# -- Parquet and XLSX --------------------------------------------------------------------------


def _read_table(src: SourceFile, data: bytes | None) -> None:
    source = src.path if data is None else io.BytesIO(data)
    try:
        read = pl.read_parquet if src.format == "parquet" else pl.read_excel
        df = read(source)
    except Exception as exc:  # the readers raise many types; all mean "unreadable"
        first = str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__
        raise RecoError(f"{src.path}: cannot read this {src.format} file: {first}") from None
    if df.width == 0:
        raise RecoError(f"{src.path}: empty file (no header row)")
    src.headers = df.columns
    # No RAW column: the raw text of a rejected row (a JSON object of its values) is only
    # built for rejected rows (see parse.Typing.apply).
    src.frame = df.with_columns(pl.int_range(1, pl.len() + 1, dtype=pl.Int64).alias(ROW))
    src.ragged = pl.DataFrame(schema={ROW: pl.Int64, RAW: pl.String, "details": pl.String})


# -- CSV -----------------------------------------------------------------------------------------


def _decode(src: SourceFile, data: bytes, forced: str | None) -> bytes:
    """Return the file as UTF-8 bytes (BOM removed) and record the encoding used and how it
    was chosen. A file whose encoding cannot be told for sure is refused, naming the
    candidates: it is never decoded by a guess."""
    if forced:
        try:
            codec = codecs.lookup(forced).name
        except LookupError:
            raise RecoError(f"unknown encoding {forced!r} (try utf-8, utf-8-sig, cp1252, latin-1)") from None
        src.encoding, src.encoding_chosen_by = codec, "given"
        return _decoded(src, data, codec, f"not valid {forced}").lstrip("\ufeff").encode("utf-8")
    for bom, codec in (
        (codecs.BOM_UTF32_LE, "utf-32"),
        (codecs.BOM_UTF32_BE, "utf-32"),
        (codecs.BOM_UTF8, "utf-8-sig"),
        (codecs.BOM_UTF16_LE, "utf-16"),
        (codecs.BOM_UTF16_BE, "utf-16"),
    ):
        if data.startswith(bom):
            src.encoding, src.encoding_chosen_by = codec, "BOM"
            text = _decoded(src, data, codec, f"starts with a {codec.upper()} BOM but is not valid {codec}")
            if codec == "utf-8-sig":
                return data[len(bom) :]
            return text.lstrip("\ufeff").encode("utf-8")
    if b"\x00" in data[:65536]:
        raise RecoError(
            f"{src.path}: unreadable encoding (NUL bytes: a binary file or UTF-16 without a BOM); "
            "export as CSV in UTF-8 or cp1252, or pass --encoding"
        )
    src.encoding_chosen_by = "detected"
    try:
        _check_utf8(data)
    except UnicodeDecodeError as exc:
        _refuse_damaged_utf8(src, data, exc)
    else:
        src.encoding, src.encoding_detail = "utf-8", "valid UTF-8"
        return data
    codec = _single_byte(src, data)
    src.encoding = codec
    return data.decode(codec).encode("utf-8")


def _check_utf8(data: bytes, piece: int = 1 << 24) -> None:
    """Raise UnicodeDecodeError (its offsets those of the whole file) unless ``data`` is valid
    UTF-8; decoded in pieces, so the file's text is never held whole."""
    decoder = codecs.getincrementaldecoder("utf-8")()
    view = memoryview(data)
    for start in range(0, len(data), piece):
        try:
            decoder.decode(view[start : start + piece], final=start + piece >= len(data))
        except UnicodeDecodeError:
            data.decode("utf-8")  # the same error, with the file's offsets
            raise
    decoder.decode(b"", final=True)


def _decoded(src: SourceFile, data: bytes, codec: str, problem: str) -> str:
    try:
        return data.decode(codec)
    except UnicodeDecodeError as exc:
        line = data.count(b"\n", 0, exc.start) + 1
        raise RecoError(
            f"{src.path}: {problem} at line {line} (byte 0x{data[exc.start]:02x}), offset "
            f"{exc.start} in the file; check --encoding (utf-8, cp1252 and latin-1 are common)"
        ) from None


def _refuse_damaged_utf8(src: SourceFile, data: bytes, exc: UnicodeDecodeError) -> None:
    """Return when the file is not UTF-8 at all; refuse it when it mostly is (valid multi-byte
    characters at least as many as invalid bytes): a UTF-8 export with a damaged byte, which a
    single-byte reading would turn into mojibake on every accented character."""
    text = data.decode("utf-8", errors="replace")
    invalid = text.count("\ufffd")
    ascii_bytes = int(np.count_nonzero(np.frombuffer(data, dtype=np.uint8) < 0x80))
    valid = len(text) - ascii_bytes - invalid  # characters of 2 to 4 valid UTF-8 bytes
    if valid == 0 or valid < invalid:
        return
    line = data.count(b"\n", 0, exc.start) + 1
    column = exc.start - (data.rfind(b"\n", 0, exc.start) + 1) + 1
    sample = next(c for c in text if c > "\x7f" and c != "\ufffd")
    mojibake = sample.encode("utf-8").decode("cp1252", errors="replace")
    raise RecoError(
        f"{src.path}: unsure of the encoding: it reads as UTF-8 ({valid:,} accented characters) "
        f"except {invalid:,} invalid byte(s), the first 0x{data[exc.start]:02x} at line {line}, "
        f"byte {column} of the line (offset {exc.start} in the file); candidates: utf-8 (a "
        f"damaged byte) or cp1252 (would read {sample!r} as {mojibake!r}). Fix the byte, or "
        "pass --encoding to choose"
    )


def _single_byte(src: SourceFile, data: bytes) -> str:
    """cp1252 (latin-1 if the file has bytes cp1252 leaves undefined) when charset-normalizer
    finds it at least as plausible as any reading that gives other characters; otherwise the
    file is refused, naming the candidates."""
    try:
        data.decode("cp1252")
        codec = "cp1252"
    except UnicodeDecodeError:
        codec = "latin-1"
    arr = np.frombuffer(data, dtype=np.uint8)
    high = bytes(np.unique(arr[arr >= 0x80]).tolist())
    ours = high.decode(codec)

    def same_text(encoding: str) -> bool:
        try:
            return high.decode(encoding) == ours
        except UnicodeDecodeError:
            return False

    matches = list(from_bytes(data))
    own = next((m for m in matches if same_text(m.encoding)), None)
    if own is None:
        own = next(iter(from_bytes(data, cp_isolation=[codec])), None)
    others = [m for m in matches if not same_text(m.encoding)]
    better = others if own is None else [m for m in others if _more_plausible(m, own)]
    seen = f"{codec} (chaos {own.chaos:.2f}, coherence {own.coherence:.2f})" if own else None
    if own is not None and not better:
        also = [m.encoding for m in others[:3]]
        src.encoding_detail = f"charset-normalizer: {seen}" + (
            f"; less likely: {', '.join(also)}" if also else ""
        )
        return codec
    names = [f"{m.encoding} (chaos {m.chaos:.2f}, coherence {m.coherence:.2f})" for m in better[:3]]
    candidates = ", ".join([*names, seen or f"{codec} (garbled: {_garbled(data, codec)!r})"])
    raise RecoError(
        f"{src.path}: unsure of the encoding: not UTF-8, and the detector's candidates read "
        f"different characters: {candidates}. Pass --encoding (e.g. --encoding "
        f"{better[0].encoding if better else codec})"
    )


def _more_plausible(m, own) -> bool:
    """Detector match ``m`` is no worse than ``own`` in chaos (garbled characters) and
    coherence (resemblance to a language's letter frequencies), both within 0.05, and clearly
    better in one: chaos lower by 0.05, or coherence higher by 0.2 (coherence is the noisier
    measure: on a small file a few words move it by a tenth). Near ties go to ``own``."""
    no_worse = m.chaos <= own.chaos + 0.05 and m.coherence >= own.coherence - 0.05
    return no_worse and (m.chaos < own.chaos - 0.05 or m.coherence > own.coherence + 0.2)


def _garbled(data: bytes, codec: str) -> str:
    """A short sample of the file's first non-ASCII text as ``codec`` reads it."""
    arr = np.frombuffer(data, dtype=np.uint8)
    first = int(np.argmax(arr >= 0x80))
    return data[max(0, first - 10) : first + 20].decode(codec, errors="replace")


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


def _cr_line_ends(data: bytes) -> bytes:
    """Old Mac files end their lines with a CR alone: every CR outside quotes that is not
    followed by a LF becomes a LF (a CR inside a quoted field is text, kept as it is)."""
    if b"\r" not in data or data.count(b"\r") == data.count(b"\r\n"):
        return data
    arr = np.frombuffer(data, dtype=np.uint8)
    lone = arr == _CR
    lone[:-1] &= arr[1:] != _NL
    if b'"' in data:
        lone &= np.bitwise_xor.accumulate((arr == _QUOTE).view(np.uint8)) == 0
    if not lone.any():
        return data
    fixed = arr.copy()
    fixed[lone] = _NL
    return fixed.tobytes()


def _content_ends(arr: np.ndarray, starts: np.ndarray, ends: np.ndarray) -> np.ndarray:
    """Each record's end without the trailing CR of a CRLF line end."""
    cr = np.zeros(ends.size, dtype=bool)
    nonempty = ends > starts
    cr[nonempty] = arr[ends[nonempty] - 1] == ord("\r")
    return ends - cr


def _header(
    src: SourceFile, data: bytes, starts: np.ndarray, content_ends: np.ndarray, delimiter: str | None
) -> tuple[int, str, list[str]]:
    """The header (the first non-blank record): its index, the delimiter, the column names."""
    blank = content_ends == starts
    first = int(np.argmax(~blank))
    header_bytes = data[starts[first] : content_ends[first]]
    sep = delimiter or _sniff(src, header_bytes)
    src.delimiter = sep
    try:
        headers = next(csv.reader(io.StringIO(header_bytes.decode("utf-8")), delimiter=sep))
    except csv.Error as exc:
        raise RecoError(f"{src.path}: cannot read the header (line {first + 1}): {exc}") from None
    headers = [h.strip() for h in headers]
    dupes = sorted({h for h in headers if headers.count(h) > 1})
    if dupes:
        raise RecoError(f"{src.path}: column {dupes[0]!r} appears more than once in the header")
    if any(h == "" for h in headers):
        pos = headers.index("") + 1
        raise RecoError(f"{src.path}: column {pos} of the header has no name")
    src.headers = headers
    return first, sep, headers


def _read_csv(src: SourceFile, data: bytes, encoding: str | None, delimiter: str | None) -> None:
    data = _cr_line_ends(_decode(src, data, encoding))
    if not data or data.isspace():  # (data.strip() would copy the file)
        raise RecoError(f"{src.path}: empty file (no header row)")
    arr = np.frombuffer(data, dtype=np.uint8)
    starts, ends, in_quotes = _record_bounds(src, arr, b'"' in data)
    first, sep, headers = _header(src, data, starts, _content_ends(arr, starts, ends), delimiter)
    piece = _piece(src, data, arr, (starts, ends, in_quotes), headers, sep, first, 0)
    src.frame, src.ragged, src.records, src.records_offset = (
        piece.frame,
        piece.ragged,
        piece.records,
        piece.records_offset,
    )


def _piece(
    src: SourceFile,
    data: bytes,
    arr: np.ndarray,
    bounds: tuple[np.ndarray, np.ndarray, np.ndarray | None],
    headers: list[str],
    sep: str,
    first: int,
    base: int,
) -> Piece:
    """Records of a file (``data``: the whole file, or a block of it cut at a record's end)
    split into the header's columns: ``first`` is the index of the header record in the file,
    ``base`` the index in the file of the first record of ``data``."""
    starts, ends, in_quotes = bounds
    content_ends = _content_ends(arr, starts, ends)
    blank = content_ends == starts
    # Field count of every record: delimiters outside quotes before its end, minus those
    # before the previous record's end, plus one.
    is_sep = arr == ord(sep)
    seps = np.flatnonzero(is_sep if in_quotes is None else is_sep & (in_quotes == 0))
    del is_sep, in_quotes  # a byte each per byte of the file: not kept while the rest is parsed
    fields = np.diff(np.searchsorted(seps, ends), prepend=0) + 1
    del seps

    index = np.arange(ends.size) + base
    body = index > first
    row_no = index - first  # 1-based position after the header (blank lines count)
    ragged = body & ~blank & (fields != len(headers))
    good = body & ~blank & ~ragged

    offsets = np.append(starts, arr.size).astype(np.int64)
    # Each record's text, line end included: zero-copy, only copied for rejected rows.
    records = pa.LargeStringArray.from_buffers(ends.size, pa.py_buffer(offsets), pa.py_buffer(data))
    piece = Piece(pl.DataFrame(), pl.DataFrame(), records, first - base)
    bad_rows = pl.Series(ROW, row_no[ragged], dtype=pl.Int64)
    piece.ragged = pl.DataFrame(
        {
            ROW: bad_rows,
            RAW: piece.raw_text(bad_rows),
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
        piece.frame = pl.DataFrame(schema={h: pl.String for h in headers}).with_columns(kept)
        return piece
    after = max(first - base, -1) + 1  # the first record after the header
    if good[after:].all():
        payload = data[starts[after] :] if after < ends.size else b""
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
    piece.frame = pl.concat([frame, kept], how="horizontal")
    return piece


# -- A file that repeats itself ------------------------------------------------------------------


_AGAIN = (
    "(an export concatenated with itself?); sales lines in it count twice (a line repeated "
    "within one file is a line sold twice)"
)


def _repeats_of(src: SourceFile, hashes: _Column, rows: _Column, header: int | None) -> list[str]:
    """``_repeats`` for a file read in blocks, from a 64-bit hash of each row's text (in row
    order, ``rows`` their numbers; both in temporary files) and of the header's."""
    n = hashes.size
    k = n // 2
    if n % 2 == 1 and k and hashes[k] == header and hashes[0] == hashes[k + 1] and hashes.equal(0, k + 1, k):
        return [
            f"{src.path}: the file repeats itself: row {rows[k]:,} is the header again and "
            f"the {k:,} rows after it repeat the {k:,} before it line for line {_AGAIN}"
        ]
    if n % 2 == 0 and k and hashes[0] == hashes[k] and hashes.equal(0, k, k):
        return [
            f"{src.path}: the second half of the file (rows {rows[k]:,}-{rows[-1]:,}) repeats "
            f"the first half (rows {rows[0]:,}-{rows[k - 1]:,}) line for line {_AGAIN}"
        ]
    return []


def _repeats(src: SourceFile) -> list[str]:
    """A warning when the file's rows are the same rows twice, line for line: an export
    concatenated with itself (with its header again in the middle, or not). Repeated lines are
    legitimate on their own (two scans of one bottle), so this only warns. Two single rows are
    compared first; the whole file only when they match."""
    again = _AGAIN
    if src.records is None:  # Parquet / XLSX: compare the values
        values = src.frame.drop(ROW)
        n = values.height
        h = n // 2
        if h and n % 2 == 0 and values.row(0) == values.row(h) and values.head(h).equals(values.tail(h)):
            return [f"{src.path}: rows {h + 1:,}-{n:,} repeat rows 1-{h:,} line for line {again}"]
        return []
    rows = pl.concat([src.frame.get_column(ROW), src.ragged.get_column(ROW)]).sort()
    n = rows.len()

    def text(*positions: int) -> list[str]:
        return src.raw_text(rows.gather(list(positions))).to_list()

    k = n // 2
    if n % 2 == 1 and k and text(k) == src.raw_text(pl.Series([0])).to_list() and text(0) == text(k + 1):
        lines = src.raw_text(rows)
        if lines.head(k).equals(lines.tail(k)):
            return [
                f"{src.path}: the file repeats itself: row {rows[k]:,} is the header again and "
                f"the {k:,} rows after it repeat the {k:,} before it line for line {again}"
            ]
    if n % 2 == 0 and k and text(0) == text(k):
        lines = src.raw_text(rows)
        if lines.head(k).equals(lines.tail(k)):
            return [
                f"{src.path}: the second half of the file (rows {rows[k]:,}-{rows[-1]:,}) repeats "
                f"the first half (rows {rows[0]:,}-{rows[k - 1]:,}) line for line {again}"
            ]
    return []


# -- A large CSV file, read in blocks ------------------------------------------------------------

_OTHER_BOMS = (codecs.BOM_UTF32_LE, codecs.BOM_UTF32_BE, codecs.BOM_UTF16_LE, codecs.BOM_UTF16_BE)


def _record_ends(data: bytes) -> tuple[int, int]:
    """(the offset just after the last record end in ``data``: a LF outside quotes, 0 when
    there is none; the number of records ending there)."""
    if b'"' not in data:
        cut = data.rfind(b"\n") + 1
        return cut, data.count(b"\n", 0, cut)
    arr = np.frombuffer(data, dtype=np.uint8)
    outside = np.bitwise_xor.accumulate((arr == _QUOTE).view(np.uint8)) == 0
    ends = np.flatnonzero((arr == _NL) & outside)
    return (int(ends[-1]) + 1 if ends.size else 0), int(ends.size)


def _plain_utf8(data: bytes) -> bool:
    """Valid UTF-8 without a CR that is not part of a CRLF (such bytes, and CR-only line ends,
    are left to the whole-file reading, which reports or converts them)."""
    if not data.isascii():
        try:
            _check_utf8(data)
        except UnicodeDecodeError:
            return False
    return b"\r" not in data or data.count(b"\r") == data.count(b"\r\n")


class _Blocks:
    """A CSV file read in blocks of about ``block_bytes``, each cut at the end of a record
    (``spans``: offset, length and index of the block's first record in the file), so that each
    block is parsed alone exactly as the same records are in the whole file. The cuts, the
    encoding and the header are found first from the bytes alone (``plan``); the rows are
    counted, the ragged records gathered and the file's repetition checked during the first
    walk over the pieces (``SourceFile.pieces``)."""

    def __init__(self, spans: list[tuple[int, int, int]], headers: list[str], sep: str, first: int) -> None:
        self.spans, self.headers, self.sep, self.first = spans, headers, sep, first
        #: every record of the file ends with a LF alone (no CR anywhere, a LF at its end): the
        #: repetition check then hashes each record's text with its line end, as it is in the
        #: block (no copy), the same for every row and the header
        self.lf_ends = False
        self.rows: int | None = None
        self._kept: dict[int, Piece] = {}
        self._ragged: list[pl.DataFrame] = []
        # for the repetition check: a hash of each row's text and its row number, in row
        # order, in a temporary file (8 + 8 bytes a row, not held in memory)
        self._hashes: _Column | None = None
        self._rows: _Column | None = None
        self._header_hash: int | None = None

    @classmethod
    def plan(
        cls, src: SourceFile, forced: str | None, delimiter: str | None, block_bytes: int
    ) -> _Blocks | None:
        """The blocks of a UTF-8 file (BOM or not), or None when the file is to be read whole:
        another encoding (given, marked or detected), NUL bytes at its start, a damaged byte,
        CR-only line ends, an unterminated quote, no header in its first block. The whole
        reading then decides, refuses or converts exactly as for a small file."""
        with src.path.open("rb") as fh:
            head = fh.read(65536)
        detail = None
        if forced:
            try:
                codec = codecs.lookup(forced).name
            except LookupError:
                return None
            if codec not in ("utf-8", "utf-8-sig"):
                return None
            chosen = "given"
        elif head.startswith(codecs.BOM_UTF8):
            codec, chosen = "utf-8-sig", "BOM"
        elif head.startswith(_OTHER_BOMS) or b"\x00" in head:
            return None
        else:
            codec, chosen, detail = "utf-8", "detected", "valid UTF-8"
        start = len(codecs.BOM_UTF8) if head.startswith(codecs.BOM_UTF8) else 0
        spans: list[tuple[int, int, int]] = []
        pos, records, carry = start, 0, b""
        lf_ends = True
        with src.path.open("rb") as fh:
            fh.seek(start)
            while True:
                buf = fh.read(block_bytes)
                data = carry + buf if carry else buf
                if not buf:
                    if data:
                        if b'"' in data and _record_ends(data + b"\n")[0] != len(data) + 1:
                            return None  # an unterminated quote
                        if not _plain_utf8(data):
                            return None
                        spans.append((pos, len(data), records))
                        lf_ends = False  # the last record has no line end
                    break
                cut, n = _record_ends(data)
                if cut == 0:
                    carry = data
                    continue
                block = data[:cut]
                if not _plain_utf8(block):
                    return None
                lf_ends = lf_ends and b"\r" not in block
                spans.append((pos, cut, records))
                pos, records, carry = pos + cut, records + n, data[cut:]
        if not spans:
            return None
        with src.path.open("rb") as fh:  # the header: among the first records
            fh.seek(spans[0][0])
            data = fh.read(spans[0][1])
        data = data[: _record_ends(data[: 1 << 20])[0] or len(data)]
        arr = np.frombuffer(data, dtype=np.uint8)
        starts, ends, _ = _record_bounds(src, arr, b'"' in data)
        content_ends = _content_ends(arr, starts, ends)
        nonblank = np.flatnonzero(content_ends > starts)
        if not nonblank.size or data[starts[nonblank[0]] : content_ends[nonblank[0]]].isspace():
            return None  # the whole reading says what is wrong (an empty file, a blank header)
        first, sep, headers = _header(src, data, starts, content_ends, delimiter)
        src.encoding, src.encoding_chosen_by, src.encoding_detail = codec, chosen, detail
        blocks = cls(spans, headers, sep, first)
        blocks.lf_ends = lf_ends
        return blocks

    def pieces(self, src: SourceFile, last: bool) -> Iterator[Piece]:
        first_pass = self.rows is None
        kept_bytes = 0
        with src.path.open("rb") as fh:
            for i, (offset, length, base) in enumerate(self.spans):
                piece = self._kept.pop(i, None) if last else self._kept.get(i)
                if piece is None:
                    fh.seek(offset)
                    data = fh.read(length)
                    arr = np.frombuffer(data, dtype=np.uint8)
                    bounds = _record_bounds(src, arr, b'"' in data)
                    piece = _piece(src, data, arr, bounds, self.headers, self.sep, self.first, base)
                if first_pass:
                    self._learn(piece, i == 0)
                    if not last and kept_bytes + length <= KEEP_BYTES:
                        self._kept[i] = piece
                        kept_bytes += length
                yield piece
        if first_pass:
            self._finish(src)

    def _learn(self, piece: Piece, has_header: bool) -> None:
        self._ragged.append(piece.ragged)
        rows = pl.concat([piece.frame.get_column(ROW), piece.ragged.get_column(ROW)]).sort()
        if self._hashes is None:
            self._hashes, self._rows = _Column(), _Column()
        self._hashes.append(self._text(piece, rows).hash().to_numpy())
        self._rows.append(rows.to_numpy())
        if has_header:
            self._header_hash = int(self._text(piece, pl.Series([0], dtype=pl.Int64)).hash()[0])
        self._height = getattr(self, "_height", 0) + piece.frame.height

    def _text(self, piece: Piece, rows: pl.Series) -> pl.Series:
        """The text of these rows (sorted) for the repetition check: without its line end, or
        (``lf_ends``) with it, then not copied when the rows are consecutive records."""
        if not self.lf_ends or not rows.len():
            return piece.raw_text(rows)
        first = int(rows[0]) + piece.records_offset
        if int(rows[-1]) - int(rows[0]) + 1 != rows.len():
            return pl.Series(RAW, piece.records.take(pa.array(rows.to_numpy() + piece.records_offset)))
        return pl.Series(RAW, piece.records.slice(first, rows.len()), dtype=pl.String)

    def _finish(self, src: SourceFile) -> None:
        self.rows = self._height
        src.ragged = pl.concat(self._ragged)
        self._ragged = []
        hashes, rows = self._hashes or _Column(), self._rows or _Column()
        self._hashes = self._rows = None
        src.warnings += _repeats_of(src, hashes, rows, self._header_hash)
        hashes.close()
        rows.close()


class _Column:
    """A column of 64-bit numbers appended in order to a temporary file (deleted when closed),
    read back by position or by range: per-row state of a file read in blocks that memory
    does not hold."""

    def __init__(self) -> None:
        self._fh = tempfile.TemporaryFile(prefix="reco-rows-")  # noqa: SIM115 (closed by close)
        self.size = 0

    def append(self, values: np.ndarray) -> None:
        np.ascontiguousarray(values, dtype=np.uint64).tofile(self._fh)
        self.size += len(values)

    def read(self, start: int, stop: int) -> np.ndarray:
        """Values ``start`` to ``stop`` (exclusive)."""
        self._fh.seek(8 * start)
        return np.fromfile(self._fh, dtype=np.uint64, count=max(stop - start, 0))

    def __getitem__(self, i: int) -> int:
        return int(self.read(i % self.size, i % self.size + 1)[0])

    def equal(self, a: int, b: int, n: int, step: int = 1 << 20) -> bool:
        """Whether values ``a``… and ``b``… are the same ``n`` values, read a block at a time."""
        return all(
            np.array_equal(self.read(a + k, a + min(k + step, n)), self.read(b + k, b + min(k + step, n)))
            for k in range(0, n, step)
        )

    def close(self) -> None:
        self._fh.close()
