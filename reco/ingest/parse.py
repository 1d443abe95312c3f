"""Typing and validating source columns with Polars expressions (no per-row Python).

Each canonical column becomes a typed value plus zero or more checks. A check is a boolean
expression (the row fails), a reason code, and a detail expression naming the column, what was
expected and what was found (formatted for failing rows only). Rows failing any check are
rejected with all their reasons.
"""

from __future__ import annotations

import re
import tempfile
from collections.abc import Callable
from dataclasses import dataclass, replace

import numpy as np
import polars as pl
import polars_hash as plh
import pyarrow as pa

from reco.ingest.entities import LINE_TYPES, Column, Entity, Kind
from reco.ingest.mapping import ColumnOptions, LineTypeRules, Mapping, normalise_header
from reco.ingest.read import RAW, ROW

REASONS = "__reasons"
DETAILS = "__details"
KEY = "__key"

DECIMAL_TYPE = pl.Decimal(18, 4)

#: Date orders tried in this order when no format is forced, each with or without a time
#: (" 14:05", " 14:05:09", "T14:05:09.123"). Day-first (French) comes before year-first variants;
#: month-first is never guessed (force it with --date-format %m/%d/%Y).
DATE_PARTS = ("%Y-%m-%d", "%d/%m/%Y", "%d.%m.%Y", "%d-%m-%Y", "%Y/%m/%d", "%Y%m%d")
_TIMES = (" %H:%M:%S%.f", "T%H:%M:%S%.f", " %H:%M", "")
SAMPLE = 2000
_FALLBACK_EXAMPLE = "2024-03-31, 2024-03-31 14:05 or 31/03/2024"
MIN_DATE, MAX_DATE = pl.date(1900, 1, 1), pl.date(2100, 12, 31)


@dataclass
class Check:
    failed: pl.Expr  # true where the row fails
    reason: str
    detail: pl.Expr  # evaluated on failing rows only
    column: str = ""  # canonical column it is about
    #: the row does not fail this check when one of these checks (their positions among the
    #: file's checks, which come before it) fails, or ``unless_also`` holds
    unless: tuple[int, ...] = ()
    unless_also: pl.Expr | None = None


def _shown(x: pl.Expr) -> pl.Expr:
    """A value as it appears in a detail message (truncated)."""
    s = x.cast(pl.String)
    return pl.when(s.str.len_chars() > 40).then(s.str.slice(0, 40) + "…").otherwise(s)


def _check(
    failed: pl.Expr,
    reason: str,
    column: str,
    expected: str,
    got: pl.Expr | None,
    canonical: str = "",
) -> Check:
    detail = (
        pl.format("column {}: expected {}, got '{}'", pl.lit(column), pl.lit(expected), _shown(got))
        if got is not None
        else pl.format("column {}: expected {}", pl.lit(column), pl.lit(expected))
    )
    return Check(failed.fill_null(False), reason, detail, canonical or column)


def _clean_text(x: pl.Expr, dtype: pl.DataType, nulls: tuple[str, ...]) -> pl.Expr:
    """Source value as trimmed text, null for empty / null markers; integral floats lose
    their '.0' (customer ids exported as 12346.0)."""
    if dtype == pl.String:
        s = x.str.strip_chars()
    elif dtype.is_float():
        s = (
            pl.when(x.is_finite() & (x == x.floor()))
            .then(x.cast(pl.Int64).cast(pl.String))
            .otherwise(x.cast(pl.String))
        )
    else:
        s = x.cast(pl.String)
    return pl.when(s.is_in(list(nulls))).then(None).otherwise(s)


# -- Numbers ------------------------------------------------------------------------------------
#
# A number is read with one decimal separator, '.' or ','. Thousands separators (the other of
# the two, a space, a non-breaking space or an apostrophe) are accepted only between groups of
# exactly three digits, the first group of one to three digits not starting with 0
# ('1,234,567.5', '1 234,5', "1'234.50"): '1,25' is never 125. Currency signs are ignored, and
# an exponent is allowed on an ungrouped number ('1.5E3'). Without a forced decimal, the
# column's values decide: a value that reads only one way ('12,5', '1,234.5') tells the
# column's separator; when the column has none of them, a value that reads two ways ('1,234':
# 1234 or 1.234) is rejected as ambiguous_number, never guessed.


def _grammar(decimal: str) -> str:
    """One separator of thousands per number: '1 234,5' is not read as 1234 groups of ','."""
    d = re.escape(decimal)
    grouped = "|".join(
        rf"[1-9][0-9]{{0,2}}(?:{re.escape(c)}[0-9]{{3}})+" for c in (",", ".", " ", "'") if c != decimal
    )
    return rf"^[+-]?(?:(?:[0-9]+(?:{d}[0-9]*)?|{d}[0-9]+)(?:[eE][+-]?[0-9]+)?|(?:{grouped})(?:{d}[0-9]*)?)$"


#: decimal separator -> the pattern of a number written with it (after ``_number_clean``).
NUMBER_GRAMMAR = {d: _grammar(d) for d in (".", ",")}


def _number_clean(text: pl.Expr) -> pl.Expr:
    """Currency signs removed, trimmed, non-breaking spaces as spaces."""
    return text.str.replace_all(r"[€£$]", "").str.strip_chars().str.replace_all("[\u00a0\u202f]", " ")


def _number_as(clean: pl.Expr, decimal: str) -> pl.Expr:
    """The value as a plain number text ('1234.5') when it is written with ``decimal``."""
    digits = clean.str.replace_all("[, ']" if decimal == "." else "[. ']", "")
    if decimal == ",":
        digits = digits.str.replace(",", ".", literal=True)
    return pl.when(clean.str.contains(NUMBER_GRAMMAR[decimal])).then(digits)


def _unusual(source: str, forced: str | None) -> pl.Expr:
    """A value that is not a plain machine number (digits, signs and at most one point; with no
    forced decimal separator, not like '1.234' either, which could be thousands)."""
    x = pl.col(source)
    unusual = x.str.contains(r"[^0-9.+\-]") | (x.str.count_matches(".", literal=True) > 1)
    if forced is None:
        unusual = unusual | x.str.contains(r"^\s*[+-]?[1-9][0-9]{0,2}\.[0-9]{3}\s*$")
    return unusual


def _reads_only(source: str, nulls: tuple[str, ...]) -> dict[str, pl.Expr]:
    """Whether some value reads only with '.', and some only with ','."""
    clean = _number_clean(_clean_text(pl.col(source), pl.String, nulls))
    dot, comma = (clean.str.contains(NUMBER_GRAMMAR[d]) for d in (".", ","))
    return {f"{source}:only_dot": (dot & ~comma).any(), f"{source}:only_comma": (comma & ~dot).any()}


#: Among plain values (no ``_unusual`` one), those that read only with '.': the others read
#: both ways ('12') or not at all ('1-2'), and none reads only with ','.
_PLAIN_ONLY_DOT = r"^[+-]?(?:[0-9]+\.[0-9]*|\.[0-9]+)$"


def plain_number_column(flags: dict[str, bool], source: str, decimal: str | None) -> bool:
    """True when a text column can be cast as it is (machine exports): every value is made of
    digits, signs and at most one point, and the point is the decimal separator (forced, or no
    value like '1.234' could be thousands), so the regular expressions are skipped."""
    return decimal != "," and not flags[f"{source}:unusual"]


def number_decimal(flags: dict[str, bool], source: str, forced: str | None) -> str | None:
    """The decimal separator of a text column: ``forced`` when given; otherwise '.' or ',' when
    some value reads only with it and none only with the other; None when the values do not
    tell (each value is then read alone, and one that reads two ways is rejected)."""
    if forced:
        return forced
    only_dot, only_comma = flags[f"{source}:only_dot"], flags[f"{source}:only_comma"]
    if only_dot != only_comma:
        return "." if only_dot else ","
    return None


def forced_formats(fmt: str) -> list[str]:
    """A forced format, and its date part alone when it has a time."""
    date_only = fmt.split(" ")[0].split("T")[0]
    return [fmt, date_only] if "%H" in fmt and date_only != fmt else [fmt]


def _parse_ts(text: pl.Expr, formats: list[str]) -> pl.Expr:
    ts = pl.Datetime("us")
    parsed = [text.str.strptime(ts, f, strict=False) for f in formats]
    return parsed[0] if len(parsed) == 1 else pl.coalesce(parsed)


def fast_formats(formats: list[str], any_point: bool) -> list[str]:
    """``formats`` without their optional fractions of a second (``%.f``) when no value of the
    column has a point (so none has a fraction for ``%.f`` to read): Polars parses such
    fixed-width formats about three times faster, with the same values. (A column with a point
    somewhere keeps ``formats``: the same values, parsed more slowly.)"""
    fixed = list(dict.fromkeys(f.replace("%.f", "") for f in formats))
    return formats if any_point else fixed


def detect_date_formats(sample: pl.Series) -> list[str]:
    """The formats of a date column, from a sample of its non-empty values spread over the file
    (``Sampler``): for the first date order of DATE_PARTS reading every sampled value (else the
    one reading most), its variants (with / without time) that occur. Values in no detected
    format are rejected as bad_date."""
    if sample.len() == 0:
        return []
    sample = sample.rename("v").to_frame()
    best: tuple[int, list[str]] = (0, [])
    for part in DATE_PARTS:
        variants = [part + t for t in _TIMES]
        hits = sample.select(
            [
                pl.col("v").str.strptime(pl.Datetime("us"), f, strict=False).is_not_null().alias(f)
                for f in variants
            ]
        )
        used = [f for f in variants if hits.get_column(f).any()]
        covered = hits.select(pl.any_horizontal(pl.all()).sum()).item()
        if covered == sample.height:
            return used
        if covered > best[0]:
            best = (covered, used)
    return best[1]


class Sampler:
    """Every s-th non-empty value of a column, in file order, s the smallest power of two that
    keeps fewer than 2 × SAMPLE of them (all of them below that): a sample spread over the
    whole file, gathered piece by piece and the same whatever the pieces."""

    def __init__(self) -> None:
        self.stride, self.seen = 1, 0
        self._kept: list[pl.Series] = []

    def add(self, values: pl.Series) -> None:
        self._kept.append(values.gather_every(self.stride, (-self.seen) % self.stride))
        self.seen += values.len()
        while sum(v.len() for v in self._kept) >= 2 * SAMPLE:
            self._kept = [pl.concat(self._kept).gather_every(2)]
            self.stride *= 2

    def sample(self) -> pl.Series:
        return pl.concat(self._kept) if self._kept else pl.Series([], dtype=pl.String)


def _example(fmt: str) -> str:
    from datetime import datetime

    return datetime(2024, 3, 31, 14, 5, 0).strftime(fmt.replace("%.f", ""))


def parse_column(
    col: Column,
    source: str,
    dtype: pl.DataType,
    opts: ColumnOptions,
    nulls: tuple[str, ...],
    formats: list[str] | None = None,
    header: str | None = None,
    plain_numbers: bool = False,
    parse_formats: list[str] | None = None,
    decimal: str | None = None,
) -> tuple[pl.Expr, list[Check]]:
    """The typed value of one canonical column (read from frame column ``source``, whose
    header in the file is ``header``) and its checks. The checks read the typed value back as
    ``pl.col(col.name)``: evaluate them after the values. ``plain_numbers``: the column holds
    only digits, signs and points (see ``plain_number_column``), so it needs no cleaning;
    otherwise ``decimal`` is the column's decimal separator (see ``number_decimal``; None: each
    value alone, rejected when it reads two ways).
    ``parse_formats``: the formats actually parsed, when faster ones than ``formats`` read the
    column just as well (see ``fast_formats``)."""
    x = pl.col(source)
    v = pl.col(col.name)
    header = header or source
    label = (
        col.name
        if normalise_header(header) == normalise_header(col.name)
        else f"{col.name} (source '{header}')"
    )
    text = _clean_text(x, dtype, nulls)
    present = text.is_not_null()
    checks: list[Check] = []
    if col.kind is Kind.TEXT:
        value = text
        if opts.strip_decimal_zero:
            value = value.str.replace(r"^(-?\d+)[.,]0+$", "${1}")
        if col.max_length:
            length = v.str.len_chars()
            checks.append(
                _check(
                    length > col.max_length,
                    "too_long",
                    label,
                    f"at most {col.max_length} characters",
                    pl.format("{} characters", length),
                )
            )
        return value, checks
    if col.kind in (Kind.DECIMAL, Kind.INT):
        target = pl.Float64 if col.kind is Kind.INT else DECIMAL_TYPE
        unreadable = present & v.is_null()
        if dtype.is_numeric():
            number = x.cast(target, strict=False)
        elif plain_numbers:
            number = text.cast(target, strict=False)
        elif decimal:
            number = _number_as(_number_clean(text), decimal).cast(target, strict=False)
        else:
            clean = _number_clean(text)
            as_dot, as_comma = (_number_as(clean, d).cast(target, strict=False) for d in (".", ","))
            ambiguous = as_dot.is_not_null() & as_comma.is_not_null() & (as_dot != as_comma)
            number = pl.when(~ambiguous).then(pl.coalesce(as_dot, as_comma))
            unreadable = unreadable & ~ambiguous
            checks.append(
                _check(
                    present & ambiguous,
                    "ambiguous_number",
                    label,
                    "a number that reads one way (',' and '.' could each be the decimal or the "
                    "thousands separator here, and no other value of the column tells which: "
                    "set decimal in a mapping)",
                    text,
                )
            )
        if col.kind is Kind.INT:
            value = pl.when(number == number.floor()).then(number).cast(pl.Int64, strict=False)
            expected = "a whole number"
        else:
            value, expected = number, "a number"
        if decimal and not dtype.is_numeric():
            why = "set by the mapping" if opts.decimal else "as in the column's other values"
            example = "1,234.5" if decimal == "." else "1 234,5"
            expected += (
                f" with '{decimal}' as the decimal separator ({why}; thousands separators only "
                f"between groups of 3 digits, e.g. {example})"
            )
        checks.append(_check(unreadable, "bad_number", label, expected, text))
        if col.low is not None or col.high is not None:
            as_float = v.cast(pl.Float64)
            checks.append(
                _check(
                    (as_float < col.low) | (as_float > col.high),
                    "out_of_range",
                    label,
                    f"a value between {col.low:g} and {col.high:g}",
                    text,
                )
            )
        return value, checks
    if col.kind in (Kind.DATE, Kind.DATETIME):
        if dtype.is_temporal():
            ts = x.cast(pl.Datetime("us"))
            expected = "a date"
        elif formats:
            ts = _parse_ts(text, parse_formats or formats)
            expected = f"a date like {_example(formats[0])} ({' or '.join(formats)})"
        else:
            ts = pl.lit(None, pl.Datetime("us"))
            expected = f"a date like {_FALLBACK_EXAMPLE}"
        checks.append(_check(present & v.is_null(), "bad_date", label, expected, text))
        day = v if col.kind is Kind.DATE else v.dt.date()
        checks.append(
            _check(
                (day < MIN_DATE) | (day > MAX_DATE),
                "out_of_range",
                label,
                "a date between 1900 and 2100",
                text,
            )
        )
        return (ts.dt.date() if col.kind is Kind.DATE else ts), checks
    if col.kind is Kind.BOOL:
        if dtype == pl.Boolean:
            return x, checks
        low = text.str.to_lowercase()
        trues = [t.lower() for t in opts.true_values]
        falses = [f.lower() for f in opts.false_values]
        value = pl.when(low.is_in(trues)).then(True).when(low.is_in(falses)).then(False)
        yes, no = "/".join(opts.true_values[:4]), "/".join(opts.false_values[:4])
        expected = f"a yes/no value ({yes} or {no})"
        checks.append(_check(present & v.is_null(), "bad_boolean", label, expected, text))
        return value.cast(pl.Boolean), checks
    if col.kind is Kind.TAGS:
        tags = (
            text.str.replace_all(r"[\[\]\"]", "")
            .str.replace_all(r"[;|]", ",")
            .str.split(",")
            .list.eval(pl.element().str.strip_chars().str.to_lowercase())
            .list.eval(pl.element().filter(pl.element() != ""))
        )
        return tags, checks
    raise AssertionError(col.kind)


#: A missing check on a column is silenced when these columns failed to parse.
_MISSING_COVERS = {
    "order_date": ("order_date", "order_ts"),
    "amount_ht": ("amount_ht", "unit_price"),
    "product_key": ("product_key", "product_label"),
}


def _missing(entity: Entity, column: str, value: pl.Expr) -> Check:
    code = entity.missing_codes.get(column, f"missing_{column}")
    return _check(value.is_null(), code, column, "a value (required)", None)


def _starts_with_upper(x: pl.Expr, prefix: str) -> pl.Expr:
    """``x.upper()`` starts with ``prefix.upper()``, upper-casing only the first characters
    (upper-casing maps each character alone and never shortens it)."""
    return x.str.slice(0, len(prefix)).str.to_uppercase().str.starts_with(prefix.upper())


def line_type_expr(rules: LineTypeRules) -> pl.Expr:
    """Derived line type: adjustment > cancellation > return > sale."""
    doc = pl.col("doc_ref")
    product = pl.col("product_key").str.to_uppercase()
    adjustment = pl.lit(False)
    for prefix in rules.adjustment_doc_prefixes:
        adjustment = adjustment | _starts_with_upper(doc, prefix)
    if rules.adjustment_product_keys:
        adjustment = adjustment | product.is_in([k.upper() for k in rules.adjustment_product_keys]).fill_null(
            False
        )
    cancellation = pl.lit(False)
    for prefix in rules.cancellation_doc_prefixes:
        cancellation = cancellation | _starts_with_upper(doc, prefix)
    expr = pl.when(adjustment).then(pl.lit("adjustment")).when(cancellation).then(pl.lit("cancellation"))
    if rules.negative_quantity_is_return:
        expr = expr.when(pl.col("quantity") < 0).then(pl.lit("return"))
    return expr.otherwise(pl.lit("sale"))


def normalised_label(x: pl.Expr) -> pl.Expr:
    return x.str.to_lowercase().str.replace_all(r"\s+", " ").str.strip_chars()


def _either(frame: pl.DataFrame, first: str, fallback: pl.Expr, first_expr: pl.Expr | None = None) -> pl.Expr:
    """``coalesce(first, fallback)``, but only the side that the frame needs: the costly
    fallback (label normalisation, date formatting…) is not computed when ``first`` is always
    there, and ``first`` not when it never is."""
    value = pl.col(first) if first_expr is None else first_expr
    nulls = frame.get_column(first).null_count()
    if nulls == 0:
        return value
    if nulls == frame.height:
        return fallback
    return pl.coalesce(value, fallback)


def sales_key_parts(frame: pl.DataFrame) -> list[pl.Expr]:
    """The parts of the natural key of a sales line, without its occurrence (see
    ``LineKeys``): doc_ref, product_key or 'label:' + normalised label, customer_code, order
    timestamp or date, quantity, unit price or 'amount:' + amount."""
    return [
        pl.col("doc_ref"),
        _either(frame, "product_key", pl.lit("label:") + normalised_label(pl.col("product_label"))),
        pl.col("customer_code"),
        _either(
            frame,
            "order_ts",
            pl.col("order_date").dt.to_string("%Y-%m-%d"),
            pl.col("order_ts").dt.to_string("%Y-%m-%dT%H:%M:%S"),
        ),
        pl.col("quantity").cast(pl.String),
        _either(
            frame,
            "unit_price",
            pl.lit("amount:") + pl.col("amount_ht").cast(pl.String),
            pl.col("unit_price").cast(pl.String),
        ),
    ]


#: A KeySet holds at most this many keys in memory (16 bytes each, ≈ 32 MB, plus a copy while
#: its runs merge); beyond, its keys go to sorted runs in temporary files (``KeySet``).
MEMORY_KEYS = 1 << 21
#: Bits of the in-memory filter of the keys on disk (2^28 bits: 32 MB, fixed).
_FILTER_BITS = 28


class KeySet:
    """A multiset of 16-byte keys, counted without Python per key: sorted runs of the keys'
    first 64 bits, each with the last 64 bits alongside (merged as they grow, like a
    log-structured merge), searched with numpy. Adding n keys in chunks costs O(n log n) in
    all; counting a chunk's keys against it O(chunk × log n), whatever its size (a Polars join
    would hash every key again for each chunk).

    Its memory is bounded whatever the number of keys: once the runs in memory hold
    ``memory_keys`` keys, they are merged into one sorted run written to a temporary file
    (deleted when the set is), and memory starts again empty. A bitmap of the keys on disk
    (2^28 bits of their first 64, a fixed 32 MB) sends to the files only the keys it may hold:
    the new keys of a file are almost all ruled out by it, and the few others are searched in
    each file's sorted run, mapped from the page cache and let go after the search."""

    def __init__(self, memory_keys: int | None = None) -> None:
        self._runs: list[tuple[np.ndarray, np.ndarray]] = []  # (hi sorted, lo in hi's order)
        self._memory_keys = memory_keys or MEMORY_KEYS
        self._in_memory = 0
        self._disk: list[tuple[object, int]] = []  # (temporary file: hi then lo, keys)
        self._filter: np.ndarray | None = None

    def __len__(self) -> int:
        return self._in_memory + sum(n for _, n in self._disk)

    def add(self, keys: pl.Series | np.ndarray) -> None:
        self.add_sorted(*_sorted_halves(keys)[:2])

    def add_sorted(self, hi: np.ndarray, lo: np.ndarray) -> None:
        """Add keys given as their halves sorted by ``hi`` (``_sorted_halves``)."""
        if not len(hi):
            return
        self._runs.append((hi, lo))
        self._in_memory += len(hi)
        if self._in_memory >= self._memory_keys:
            self._spill()
            return
        while len(self._runs) > 1 and len(self._runs[-2][0]) <= 2 * len(self._runs[-1][0]):
            self._merge_last()

    def _merge_last(self) -> None:
        (h1, l1), (h2, l2) = self._runs.pop(), self._runs.pop()
        hi, lo = np.concatenate((h2, h1)), np.concatenate((l2, l1))
        del h1, l1, h2, l2
        order = np.argsort(hi, kind="stable")  # two sorted runs: a linear merge
        self._runs.append((hi[order], lo[order]))

    def _spill(self) -> None:
        """The runs in memory, merged, to a temporary file; their keys into the bitmap."""
        while len(self._runs) > 1:
            self._merge_last()
        hi, lo = self._runs.pop()
        self._in_memory = 0
        fh = tempfile.TemporaryFile(prefix="reco-keys-")  # noqa: SIM115 (closed with the set)
        hi.tofile(fh)
        lo.tofile(fh)
        fh.flush()
        self._disk.append((fh, len(hi)))
        if self._filter is None:
            self._filter = np.zeros(1 << (_FILTER_BITS - 3), dtype=np.uint8)
        slot = hi >> np.uint64(64 - _FILTER_BITS)  # sorted, as hi is
        byte = (slot >> np.uint64(3)).astype(np.int64)
        bit = (np.uint8(1) << (slot & np.uint64(7)).astype(np.uint8)).astype(np.uint8)
        firsts = np.flatnonzero(np.diff(byte, prepend=-1))
        self._filter[byte[firsts]] |= np.bitwise_or.reduceat(bit, firsts)

    def _may_hold(self, hi: np.ndarray) -> np.ndarray:
        """Whether the keys on disk may hold each of these first halves (no: certainly not)."""
        slot = hi >> np.uint64(64 - _FILTER_BITS)
        bit = np.uint8(1) << (slot & np.uint64(7)).astype(np.uint8)
        return (self._filter[(slot >> np.uint64(3)).astype(np.int64)] & bit) != 0

    def count(self, keys: pl.Series | np.ndarray) -> np.ndarray:
        """How many times each key is in the set."""
        hi, lo, order = _sorted_halves(keys)
        counts = np.empty(len(hi), dtype=np.int64)
        counts[order] = self.count_sorted(hi, lo)
        return counts

    def count_sorted(self, hi: np.ndarray, lo: np.ndarray) -> np.ndarray:
        """``count`` of keys given as their halves sorted by ``hi``, in that order (sorted
        queries walk each run in order: cache-friendly)."""
        total = np.zeros(len(hi), dtype=np.int64)
        for run_hi, run_lo in self._runs:
            total += _count_in(run_hi, run_lo, hi, lo)
        if self._disk:
            asked = np.flatnonzero(self._may_hold(hi))
            if asked.size:
                for fh, n in self._disk:
                    mapped = np.memmap(fh, dtype=np.uint64, mode="r", shape=(2 * n,))
                    total[asked] += _count_in(mapped[:n], mapped[n:], hi[asked], lo[asked])
                    del mapped  # unmapped: its pages leave the process
        return total

    def contains(self, keys: pl.Series | np.ndarray) -> np.ndarray:
        return self.count(keys) > 0 if len(self) else np.zeros(len(keys), dtype=bool)


def _count_in(run_hi: np.ndarray, run_lo: np.ndarray, hi: np.ndarray, lo: np.ndarray) -> np.ndarray:
    """How many times each key (``hi`` sorted, ``lo`` alongside) is in one sorted run."""
    total = np.zeros(len(hi), dtype=np.int64)
    left = np.searchsorted(run_hi, hi, "left")
    found = left < len(run_hi)
    found[found] = run_hi[left[found]] == hi[found]
    hit = np.flatnonzero(found)
    if not hit.size:
        return total
    # the run's keys with the same first 64 bits (almost always the same key): compare their
    # last 64 bits, the ranges laid end to end
    widths = np.searchsorted(run_hi, hi[hit], "right") - left[hit]
    firsts = np.cumsum(widths) - widths
    within = np.arange(widths.sum()) - np.repeat(firsts, widths)
    same = run_lo[np.repeat(left[hit], widths) + within] == np.repeat(lo[hit], widths)
    total[hit] = np.add.reduceat(same.astype(np.int64), firsts)
    return total


def _sorted_halves(keys: pl.Series | np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """The keys' halves (``_halves``) sorted by the first, and the order that sorts them."""
    hi, lo = _halves(keys)
    order = np.argsort(hi)
    return hi[order], lo[order], order


def _halves(keys: pl.Series | np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """The first and last 64 bits of each 16-byte key (a KEY column, or the keys' bytes as an
    n × 16 uint8 array), as two contiguous arrays."""
    if isinstance(keys, pl.Series):
        arr = keys.to_arrow(compat_level=pl.CompatLevel.oldest())
        if isinstance(arr, pa.ChunkedArray):
            arr = arr.combine_chunks()
        n = len(arr)
        width = np.int64 if pa.types.is_large_binary(arr.type) else np.int32
        offsets = np.frombuffer(arr.buffers()[1], dtype=width)[arr.offset : arr.offset + n + 1]
        if arr.null_count or not np.all(np.diff(offsets) == 16):
            raise AssertionError("line keys are 16 bytes")
        start = int(offsets[0]) if n else 0
        keys = np.frombuffer(arr.buffers()[2] or b"", dtype=np.uint8)[start : start + 16 * n].reshape(n, 16)
    words = np.ascontiguousarray(keys).view(np.uint64)
    return np.ascontiguousarray(words[:, 0]), np.ascontiguousarray(words[:, 1])


class LineKeys:
    """raw.sales_line.line_key of the lines of one file, given in file order, whole or chunk
    by chunk (the same keys either way): the first 16 bytes of the sha256 of the UTF-8 text
    ``parts ␟ occurrence`` (parts joined with U+001F, see ``sales_key_parts``), where
    occurrence numbers identical lines within the file, 1, 2, … . Computed with polars-hash (a
    stable, standard sha256, not Polars' own ``hash``), equal to PostgreSQL's
    ``substring(sha256(convert_to(text, 'UTF8')) from 1 for 16)``; the column is a ``uuid`` of
    these 16 bytes.

    The occurrence is 1 for a line whose text is new in the file, so every text is first built
    and hashed with occurrence 1; that key identifies the text (two texts sharing it would
    need a 128-bit collision, which the unique line_key already rules out). A line whose key 1
    is repeated in its chunk or was seen in an earlier chunk (``KeySet``: a running count per
    key) is numbered after the earlier ones, and its text rebuilt and hashed again."""

    def __init__(self) -> None:
        self._seen = KeySet()

    def __call__(self, frame: pl.DataFrame) -> pl.Series:
        parts = [*sales_key_parts(frame), pl.lit("1")]
        text = frame.select(pl.concat_str(parts, separator="\x1f").alias("text")).to_series().rechunk()
        raw = _sha256_16(text)
        keys = key_series(raw)
        # one sort of the chunk's keys serves the count, the set and the repeats
        hi, lo, order = _sorted_halves(raw)
        before = np.empty(len(hi), dtype=np.int64)
        before[order] = self._seen.count_sorted(hi, lo)
        self._seen.add_sorted(hi, lo)
        again = pl.Series(before > 0) | _repeated(hi, order, keys)
        if again.any():
            repeated = (
                pl.DataFrame({"text": text, "k": keys, "before": before})
                .with_row_index("i")
                .filter(again)
                .select(
                    "i",
                    pl.format(
                        "{}\x1f{}",
                        pl.col("text").str.strip_suffix("\x1f1"),
                        pl.col("before") + pl.int_range(1, pl.len() + 1, dtype=pl.Int64).over("k"),
                    ).alias("text"),
                )
            )
            keys = keys.scatter(repeated.get_column("i"), key_series(_sha256_16(repeated.get_column("text"))))
        return keys.alias(KEY)


def _repeated(hi: np.ndarray, order: np.ndarray, keys: pl.Series) -> pl.Series:
    """``keys.is_duplicated()``, found first on the keys' first 64 bits (``hi``, sorted by
    ``order``: equal ones are neighbours), then checked whole on those that share them (almost
    always the same key)."""
    same = hi[1:] == hi[:-1]
    shared = np.zeros(len(hi), dtype=bool)
    shared[1:] |= same
    shared[:-1] |= same
    candidates = np.zeros(len(hi), dtype=bool)
    candidates[order] = shared
    candidates = pl.Series(candidates)
    if not candidates.any():
        return candidates
    where = candidates.arg_true()
    return candidates.scatter(where, keys.gather(where).is_duplicated())


def _sha256_16(text: pl.Series) -> np.ndarray:
    """The first 16 bytes of the sha256 of each text (n × 16 uint8)."""
    digests = text.to_frame("text").select(plh.col("text").chash.sha2_256()).to_series()
    return _first_16_bytes(digests)


#: Two hex digits (lowercase, as two bytes read as one little-endian uint16) -> their byte.
_HEX_PAIR = np.zeros(1 << 16, dtype=np.uint8)
for _i, _hi in enumerate(b"0123456789abcdef"):
    for _j, _lo in enumerate(b"0123456789abcdef"):
        _HEX_PAIR[_hi | (_lo << 8)] = (_i << 4) | _j


def _first_16_bytes(digests: pl.Series) -> np.ndarray:
    """The first 16 bytes of hex sha256 digests (64 lowercase hex digits each, never null), n
    × 16 uint8: each pair of digits, read as one uint16, decoded by a 65,536-entry numpy table
    (one lookup per byte, no string slicing or decoding)."""
    arr = digests.to_arrow(compat_level=pl.CompatLevel.oldest())
    if isinstance(arr, pa.ChunkedArray):
        arr = arr.combine_chunks()
    n = len(arr)
    offsets = np.frombuffer(arr.buffers()[1], dtype=np.int64)[arr.offset : arr.offset + n + 1]
    if n and not (arr.null_count == 0 and np.all(np.diff(offsets) == 64)):
        raise AssertionError("sha256 digests are 64 hex digits")
    start = int(offsets[0]) if n else 0
    digits = np.frombuffer(arr.buffers()[2] or b"", dtype=np.uint8)[start : start + 64 * n]
    pairs = digits.view(np.uint16).reshape(n, 32)  # (offsets are even: 64 per digest)
    return _HEX_PAIR[pairs[:, :16]]


def key_series(keys: bytes | np.ndarray) -> pl.Series:
    """A KEY column (Binary) of the 16-byte keys laid end to end in ``keys`` (no copy)."""
    n = memoryview(keys).nbytes // 16
    binary = pa.LargeBinaryArray.from_buffers(
        pa.large_binary(),
        n,
        [None, pa.py_buffer(np.arange(n + 1, dtype=np.int64) * 16), pa.py_buffer(keys)],
    )
    return pl.Series(KEY, binary, dtype=pl.Binary)


_EXACT = pl.Decimal(38, 8)


def amount_ht_expr() -> pl.Expr:
    """amount_ht, or round(quantity × unit_price, 4) when the file has none: the product is
    exact at 8 decimals, then rounded half away from zero like PostgreSQL's ``round``."""
    product = pl.col("quantity").cast(_EXACT) * pl.col("unit_price").cast(_EXACT)
    computed = product.round(4, mode="half_away_from_zero").cast(DECIMAL_TYPE)
    return pl.coalesce(pl.col("amount_ht"), computed)


def row_key(columns: dict[str, Column]) -> pl.Expr:
    """Text identifying a whole row (entities whose duplicates are identical rows)."""
    parts = [
        (pl.col(n).list.join("|") if c.kind is Kind.TAGS else pl.col(n).cast(pl.String)).fill_null("\x00")
        for n, c in columns.items()
    ]
    return pl.concat_str(parts, separator="\x1f")


@dataclass
class Typing:
    """How the source columns of one file become typed canonical columns and checks. The
    decisions that need the whole file (date formats from a sample spread over it, a number
    column's decimal separator, plain-number and fixed-width shortcuts) are taken once by
    ``typing``; ``apply`` then types any slice of the file's rows alike, so a file typed in
    chunks gives exactly the rows and rejects of the file typed at once."""

    entity: Entity
    renamed: dict[str, str]  # source header -> inner column name
    texts: dict[str, pl.Expr]  # derived source text (constant, concat) by inner column name
    values: dict[str, pl.Expr]
    #: canonical column -> (its derived text, its typed value), built from typed columns
    late: dict[str, tuple[pl.Expr, pl.Expr]]
    checks: list[Check]
    mapping: Mapping
    found: dict[str, str]

    def _typed(self, frame: pl.DataFrame) -> pl.LazyFrame:
        src = frame.rename(self.renamed)
        if self.texts:
            src = src.with_columns(**self.texts)
        lf = src.lazy().with_columns(**self.values)
        for name, (text, value) in self.late.items():
            lf = lf.with_columns(text.alias(f"__d_{name}")).with_columns(value.alias(name))
        return _entity_rules(lf, self.entity, self.mapping, self.found)[0]

    def order_dates(self, frame: pl.DataFrame) -> tuple[object, object]:
        """The lowest and highest order date of the rows (sales; rejected rows included, so
        a range that holds every landed line's date)."""
        dates = self._typed(frame).select(low=pl.col("order_date").min(), high=pl.col("order_date").max())
        return dates.collect().row(0)

    def apply(
        self, frame: pl.DataFrame, raw_text: Callable[[pl.Series], pl.Series] | None = None
    ) -> tuple[pl.DataFrame, pl.DataFrame]:
        """The usable rows (ROW + canonical typed columns) and the failing ones (ROW, RAW
        without its line end, REASONS: list of codes, DETAILS) of ``frame`` (the file's rows,
        or a slice of them). Details are only formatted for failing rows, and the raw text is
        only built for them: ``raw_text`` (CSV) gives the records of these rows, otherwise
        it is the row's values as JSON."""
        checks = self.checks
        # Parquet / XLSX: the row's values as a JSON object keyed by source header (CSV: the
        # record as in the file, from ``raw_text``)
        raw = pl.struct(
            [pl.col(inner).cast(pl.String).alias(header) for header, inner in self.renamed.items()]
        ).struct.json_encode()
        flags = [f"__f{i}" for i in range(len(checks))]
        # each check once; then the checks that yield to others, from those others' results
        excused = {
            f: pl.col(f) & ~pl.any_horizontal([flags[i] for i in c.unless] + _given(c.unless_also))
            for c, f in zip(checks, flags, strict=True)
            if c.unless or c.unless_also is not None
        }
        df = (
            self._typed(frame)
            .with_columns(*[c.failed.alias(f) for c, f in zip(checks, flags, strict=True)])
            .with_columns(**excused)
            .with_columns((pl.any_horizontal(flags) if flags else pl.lit(False)).alias("__bad"))
            .collect()
        )
        n_bad = df.get_column("__bad").sum()
        kept = df.select(ROW, *self.entity.columns, "__bad")
        good = (kept.filter(~pl.col("__bad")) if n_bad else kept).drop("__bad")
        failing = (df.filter(pl.col("__bad")) if n_bad else df.clear()).select(
            ROW,
            (pl.lit(None, pl.String) if raw_text else raw).alias(RAW),
            pl.concat_list([pl.when(f).then(pl.lit(c.reason)) for c, f in zip(checks, flags, strict=True)])
            .list.drop_nulls()
            .list.unique(maintain_order=True)
            .alias(REASONS),
            pl.concat_str(
                [pl.when(f).then(c.detail) for c, f in zip(checks, flags, strict=True)],
                separator="; ",
                ignore_nulls=True,
            ).alias(DETAILS),
        )
        if raw_text and failing.height:
            failing = failing.with_columns(raw_text(failing.get_column(ROW)).alias(RAW))
        return good, failing


def _given(expr: pl.Expr | None) -> list[pl.Expr]:
    return [] if expr is None else [expr]


class FileStats:
    """What the typing of a file decides on from all its rows, gathered piece by piece (a file
    read in blocks: ``read.SourceFile.pieces``) and the same whatever the pieces: for each
    number column read as text, whether some value is not a plain machine number, reads only
    with '.', only with ','; for each date column read as text, whether some value has a
    point, and a sample of its values spread over the file (``Sampler``)."""

    def __init__(self, schema: pl.Schema, entity: Entity, mapping: Mapping, found: dict[str, str]) -> None:
        self.entity, self.mapping, self.found = entity, mapping, found
        self.renamed = {source: f"__s{i}" for i, source in enumerate(schema) if source not in (ROW, RAW)}
        self.texts, self.derived = _derived_text(schema, mapping, self.renamed)
        self.schema = self._source(pl.DataFrame(schema=schema)).schema
        #: canonical column -> its inner source column, for the columns typed from the file
        self.inner: dict[str, str] = {}
        self.samplers: dict[str, Sampler] = {}
        #: number columns whose decimal separator the values may decide
        self.numbers: list[str] = []
        flags: dict[str, pl.Expr] = {}
        late = {n for n, d in mapping.derived.items() if d.from_typed_columns}
        for name, col in entity.columns.items():
            source = found.get(name)
            if source is None or name in late:
                continue
            inner = self.inner[name] = self.derived.get(name) or self.renamed[source]
            if self.schema[inner] != pl.String:
                continue
            opts = mapping.options(name)
            if col.kind in (Kind.DATE, Kind.DATETIME):
                flags[f"{inner}:point"] = pl.col(inner).str.contains(".", literal=True).any()
                if not opts.date_format:
                    self.samplers[inner] = Sampler()
            elif col.kind in (Kind.DECIMAL, Kind.INT):
                flags[f"{inner}:unusual"] = _unusual(inner, opts.decimal).any()
                if not opts.decimal:  # (a forced separator needs no more)
                    self.numbers.append(inner)
        self._flags = flags
        self.flags = dict.fromkeys(flags, False)
        for inner in self.numbers:
            self.flags |= {f"{inner}:only_dot": False, f"{inner}:only_comma": False}

    def _source(self, frame: pl.DataFrame) -> pl.DataFrame:
        src = frame.rename(self.renamed)
        return src.with_columns(**self.texts) if self.texts else src

    def add(self, frame: pl.DataFrame) -> None:
        """Take in some of the file's rows (source columns as read), in file order."""
        src = self._source(frame)
        seen = src.select(**self._flags).row(0, named=True) if self._flags else {}
        for k, v in seen.items():
            self.flags[k] = self.flags[k] or bool(v)
        # Which values read only with '.' or only with ',': costly regular expressions, so only
        # the facts not known yet, and in a piece of plain numbers only the one they can tell.
        more: dict[str, pl.Expr] = {}
        for inner in self.numbers:
            if seen[f"{inner}:unusual"]:
                more |= {
                    k: e for k, e in _reads_only(inner, self.mapping.null_values).items() if not self.flags[k]
                }
            elif not self.flags[f"{inner}:only_dot"]:
                text = _clean_text(pl.col(inner), pl.String, self.mapping.null_values)
                more[f"{inner}:only_dot"] = text.str.contains(_PLAIN_ONLY_DOT).any()
        if more:
            for k, v in src.select(**more).row(0, named=True).items():
                self.flags[k] = self.flags[k] or bool(v)
        nulls = self.mapping.null_values
        for inner, sampler in self.samplers.items():
            values = src.select(_clean_text(pl.col(inner), pl.String, nulls).alias(inner)).to_series()
            sampler.add(values.drop_nulls())


def typing(stats: FileStats) -> Typing:
    """The typing of a file's source columns, with the decisions that read the whole file
    taken once from its ``stats`` (see ``Typing``)."""
    entity, mapping, found = stats.entity, stats.mapping, stats.found
    schema, flags = stats.schema, stats.flags
    late_derived = {n: d for n, d in mapping.derived.items() if d.from_typed_columns and n in found}
    values: dict[str, pl.Expr] = {}
    checks: list[Check] = []
    for name, col in entity.columns.items():
        inner = stats.inner.get(name)
        if inner is None:
            values[name] = pl.lit(None, dtype=_polars_type(col))
            continue
        source = found[name]
        opts = mapping.options(name)
        formats = parse_formats = None
        if col.kind in (Kind.DATE, Kind.DATETIME) and schema[inner] == pl.String:
            formats = (
                forced_formats(opts.date_format)
                if opts.date_format
                else detect_date_formats(stats.samplers[inner].sample())
            )
            parse_formats = fast_formats(formats, flags[f"{inner}:point"]) if formats else None
        plain, decimal = False, None
        if col.kind in (Kind.DECIMAL, Kind.INT) and schema[inner] == pl.String:
            plain = plain_number_column(flags, inner, opts.decimal)
            decimal = opts.decimal if plain else number_decimal(flags, inner, opts.decimal)
        value, col_checks = parse_column(
            col,
            inner,
            schema[inner],
            opts,
            mapping.null_values,
            formats,
            source,
            plain,
            parse_formats,
            decimal=decimal,
        )
        values[name] = value
        checks.extend(replace(c, column=name) for c in col_checks)
    late: dict[str, tuple[pl.Expr, pl.Expr]] = {}
    for name, d in late_derived.items():
        col, opts = entity.columns[name], mapping.options(name)
        value, col_checks = parse_column(col, f"__d_{name}", pl.String, opts, (), None, found[name])
        late[name] = (d.value(), value)
        checks.extend(replace(c, column=name) for c in col_checks)
    _, rule_checks = _entity_rules(pl.LazyFrame(schema=schema), entity, mapping, found)
    # A value that is there but unreadable is reported as such, not also as missing.
    # (Read from the other checks' results, not evaluated again: see ``Typing.apply``.)
    inputs_missing = {name: d.inputs_missing() for name, d in late_derived.items()}
    failing: dict[str, list[int]] = {}
    for i, c in enumerate(checks):
        failing.setdefault(c.column, []).append(i)
    for c in rule_checks:
        if c.reason.startswith("missing_"):
            covers = _MISSING_COVERS.get(c.column, (c.column,))
            unless = tuple(i for n in covers for i in failing.get(n, ()))
            also = [inputs_missing[n] for n in covers if n in inputs_missing]
            if unless or also:
                c = replace(c, unless=unless, unless_also=pl.any_horizontal(also) if also else None)
        checks.append(c)
    return Typing(
        entity=entity,
        renamed=stats.renamed,
        texts=stats.texts,
        values=values,
        late=late,
        checks=checks,
        mapping=mapping,
        found=found,
    )


def _derived_text(
    schema: pl.Schema, mapping: Mapping, renamed: dict[str, str]
) -> tuple[dict[str, pl.Expr], dict[str, str]]:
    """The source text of the columns derived from the row's text (constant, concat), as
    expressions over the renamed source columns keyed by an extra column name, and canonical
    column -> that extra column."""
    by_header = {normalise_header(h): inner for h, inner in renamed.items()}
    inner_schema = {renamed.get(h, h): t for h, t in schema.items()}
    texts, columns = {}, {}
    for name, d in mapping.derived.items():
        if d.from_typed_columns:
            continue
        inners = [by_header[normalise_header(part)] for part in d.concat]
        parts = [_clean_text(pl.col(i), inner_schema[i], mapping.null_values) for i in inners]
        columns[name] = f"__d_{name}"
        texts[columns[name]] = d.text(parts)
    return texts, columns


def _polars_type(col: Column) -> pl.DataType:
    return {
        Kind.TEXT: pl.String,
        Kind.DECIMAL: DECIMAL_TYPE,
        Kind.INT: pl.Int64,
        Kind.BOOL: pl.Boolean,
        Kind.DATE: pl.Date,
        Kind.DATETIME: pl.Datetime("us"),
        Kind.TAGS: pl.List(pl.String),
    }[col.kind]


def _entity_rules(
    lf: pl.LazyFrame, entity: Entity, mapping: Mapping, found: dict[str, str]
) -> tuple[pl.LazyFrame, list[Check]]:
    checks: list[Check] = []
    if entity.name == "sales":
        # a date from order_ts when there is no order_date
        lf = lf.with_columns(order_date=pl.coalesce("order_date", pl.col("order_ts").dt.date()))
        if "line_type" in found:
            lt = pl.col("line_type").str.to_lowercase()
            lf = lf.with_columns(line_type=lt)
            checks.append(
                _check(
                    pl.col("line_type").is_not_null() & ~lt.is_in(list(LINE_TYPES)),
                    "bad_line_type",
                    "line_type",
                    " | ".join(LINE_TYPES),
                    pl.col("line_type"),
                )
            )
            lf = lf.with_columns(line_type=pl.coalesce("line_type", line_type_expr(mapping.line_type)))
        else:
            lf = lf.with_columns(line_type=line_type_expr(mapping.line_type))
        q, p = pl.col("quantity").cast(pl.Float64), pl.col("unit_price").cast(pl.Float64)
        checks += [
            _missing(entity, "order_date", pl.col("order_date")),
            _missing(entity, "product_key", pl.coalesce("product_key", "product_label")),
            _missing(entity, "amount_ht", pl.coalesce("amount_ht", "unit_price")),
            _check(q == 0, "out_of_range", "quantity", "a non-zero quantity", pl.col("quantity")),
            _check(
                (p < 0) & (pl.col("line_type") != "adjustment"),
                "out_of_range",
                "unit_price",
                "a price >= 0 (negative prices only on adjustment lines)",
                pl.col("unit_price"),
            ),
            _check(
                pl.col("amount_ht").is_null() & ((q * p).abs() >= 1e14),
                "out_of_range",
                "amount_ht",
                "quantity × unit_price below 10^14",
                pl.col("quantity"),
            ),
        ]
    checks += [_missing(entity, column, pl.col(column)) for column in entity.required]
    return lf, checks
