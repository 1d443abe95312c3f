"""Mapping files: how a client's export headers map onto the canonical columns.

A mapping is a TOML file (see docs/ingestion.md and the shipped ``reco/ingest/mappings/``)::

    entity = "sales"                      # optional: refuse to load another entity with it
    encoding = "utf-8"                    # optional file defaults, overridden by the CLI
    delimiter = ","
    decimal = "."                         # "." | "," (default: detected per value)
    date_format = "%Y-%m-%d %H:%M:%S"
    null_values = ["", "NULL", "N/A"]
    ignore = ["Internal note"]            # source columns deliberately not loaded

    [columns]
    doc_ref = ["Invoice", "InvoiceNo"]    # accepted source headers (either spelling)
    customer_code = { from = ["Customer ID", "CustomerID"], strip_decimal_zero = true }
    order_ts = { from = "InvoiceDate", date_format = "%Y-%m-%d %H:%M:%S" }
    # derived columns (one of constant / concat / basket, instead of from):
    country = { constant = "FR" }                                # the same value on every row
    doc_ref = { concat = ["Store", "Till", "Receipt"], sep = "-" }   # "12-3-4567", or with
    # no receipt number at all, one basket per customer and day:
    # doc_ref = { basket = "customer_day" }

    [line_type]                           # sales only
    cancellation_doc_prefixes = ["C"]
    adjustment_doc_prefixes = ["A"]
    adjustment_product_keys = ["POST", "DOT", "M"]

Headers are matched case-insensitively, ignoring spaces, dashes and underscores; the canonical
name of a column is always accepted too.

A derived column is computed from the row with Polars expressions, then typed and checked like a
column read from the file (a constant ``"2024-01-31"`` becomes a date, a too long concatenation
is rejected as ``too_long``):

- ``constant``: the same text on every row (a number or true/false is taken as its text). Never
  for the consent flags (is_contactable, is_bounced, is_optout): consent comes from each
  customer's own record.
- ``concat``: two or more source columns (trimmed; null markers are empty), joined with ``sep``
  (default ``"-"``); empty when any part is empty, so the row is rejected if the column is
  required.
- ``basket = "customer_day"`` (sales ``doc_ref`` only): ``<order date>/<customer_code>``
  (``2024-03-31/C042``), built from the typed, mapped customer code and order date, so every
  customer-day is one order. The date comes first so that no customer code is ever read as a
  cancellation or adjustment document prefix.

The derivations are recorded in the batch audit (``raw.load_batch.options["derived"]``).
"""

from __future__ import annotations

import re
import tomllib
from dataclasses import dataclass, field, replace
from pathlib import Path

import polars as pl

from reco.errors import RecoError
from reco.ingest.entities import Entity

MAPPINGS_DIR = Path(__file__).parent / "mappings"

DEFAULT_NULL_VALUES = ("", "NULL", "null", "None", "NaN", "nan", "N/A", "n/a", "NA", "#N/A", "-")
DEFAULT_TRUE = ("1", "true", "t", "yes", "y", "oui", "o", "vrai", "x")
DEFAULT_FALSE = ("0", "false", "f", "no", "n", "non", "faux")

_COLUMN_KEYS = {
    "from",
    "date_format",
    "decimal",
    "strip_decimal_zero",
    "true_values",
    "false_values",
    "constant",
    "concat",
    "sep",
    "basket",
}
_DERIVATIONS = ("constant", "concat", "basket")
#: basket = "..." -> what it means (only one kind so far).
BASKETS = {"customer_day": "one order per customer and order date"}
#: Consent is never derived: it comes from each customer's own record.
_NEVER_CONSTANT = ("is_contactable", "is_bounced", "is_optout")
_TOP_KEYS = {
    "entity",
    "description",
    "encoding",
    "delimiter",
    "decimal",
    "date_format",
    "null_values",
    "ignore",
    "columns",
    "line_type",
}
_LINE_TYPE_KEYS = {
    "cancellation_doc_prefixes",
    "adjustment_doc_prefixes",
    "adjustment_product_keys",
    "negative_quantity_is_return",
}


def normalise_header(name: str) -> str:
    return re.sub(r"[^0-9a-z]+", "", name.strip().lower())


def _order_day() -> pl.Expr:
    """A sales line's order date: ``order_date``, else the date of ``order_ts``."""
    return pl.coalesce(pl.col("order_date"), pl.col("order_ts").dt.date())


@dataclass(frozen=True)
class Derivation:
    """A canonical column computed from the row instead of read from one header."""

    constant: str | None = None
    concat: tuple[str, ...] = ()
    sep: str = "-"
    basket: str | None = None

    @property
    def from_typed_columns(self) -> bool:
        """True when it is built from typed canonical columns (after they are parsed) rather
        than from source text."""
        return self.basket is not None

    def text(self, parts: list[pl.Expr]) -> pl.Expr:
        """The derived source text (constant, concat), given the cleaned text of the
        ``concat`` source columns in order (null when empty)."""
        if self.constant is not None:
            return pl.lit(self.constant, pl.String)
        return pl.concat_str(parts, separator=self.sep)

    def value(self) -> pl.Expr:
        """The derived text of a basket, from the typed sales columns: ``<date>/<customer>``."""
        day = _order_day().dt.to_string("%Y-%m-%d")
        return pl.concat_str([day, pl.col("customer_code")], separator="/")

    def inputs_missing(self) -> pl.Expr:
        """True where a basket cannot be built because its own inputs are missing (those rows
        are rejected for the missing customer or date, not again for the derived column)."""
        return pl.col("customer_code").is_null() | _order_day().is_null()

    def describe(self) -> str:
        if self.constant is not None:
            return f"constant {self.constant!r}"
        if self.concat:
            return f"{self.sep!r}.join({', '.join(map(repr, self.concat))})"
        return f"basket {self.basket} ({BASKETS[self.basket]})"

    def as_json(self) -> dict:
        if self.constant is not None:
            return {"constant": self.constant}
        if self.concat:
            return {"concat": list(self.concat), "sep": self.sep}
        return {"basket": self.basket, "means": BASKETS[self.basket]}


@dataclass(frozen=True)
class ColumnOptions:
    sources: tuple[str, ...] = ()
    derive: Derivation | None = None
    date_format: str | None = None
    decimal: str | None = None
    strip_decimal_zero: bool = False
    true_values: tuple[str, ...] = DEFAULT_TRUE
    false_values: tuple[str, ...] = DEFAULT_FALSE


@dataclass(frozen=True)
class LineTypeRules:
    """How a sales line's type is derived when the file has no ``line_type`` column.
    Precedence: adjustment (doc prefix or product key) > cancellation (doc prefix) >
    return (negative quantity) > sale. Default: documents starting with AV (avoir, the French
    credit note) are cancellations."""

    cancellation_doc_prefixes: tuple[str, ...] = ("AV",)
    adjustment_doc_prefixes: tuple[str, ...] = ()
    adjustment_product_keys: tuple[str, ...] = ()
    negative_quantity_is_return: bool = True


@dataclass(frozen=True)
class Mapping:
    name: str = "canonical headers"
    entity: str | None = None
    encoding: str | None = None
    delimiter: str | None = None
    decimal: str | None = None
    date_format: str | None = None
    null_values: tuple[str, ...] = DEFAULT_NULL_VALUES
    ignore: tuple[str, ...] = ()
    columns: dict[str, ColumnOptions] = field(default_factory=dict)
    line_type: LineTypeRules = field(default_factory=LineTypeRules)

    def options(self, column: str) -> ColumnOptions:
        opts = self.columns.get(column, ColumnOptions())
        return replace(
            opts,
            decimal=opts.decimal or self.decimal,
            date_format=opts.date_format or self.date_format,
        )

    @property
    def derived(self) -> dict[str, Derivation]:
        """canonical column -> its derivation, for the derived columns."""
        return {name: opts.derive for name, opts in self.columns.items() if opts.derive is not None}

    def derivations_audit(self) -> dict[str, dict]:
        """What ``raw.load_batch.options["derived"]`` records: how each derived column was made."""
        return {name: d.as_json() for name, d in self.derived.items()}

    def with_overrides(self, *, encoding: str | None, date_format: str | None) -> Mapping:
        """Command-line options win over the mapping file (a forced date format applies to
        every date column)."""
        m = self
        if encoding:
            m = replace(m, encoding=encoding)
        if date_format:
            cols = {k: replace(v, date_format=None) for k, v in m.columns.items()}
            m = replace(m, date_format=date_format, columns=cols)
        return m

    def resolve_headers(self, entity: Entity, headers: list[str], file: str) -> dict[str, str]:
        """canonical column -> source header, for one file (a derived column -> ``derived:
        <how>``); one clear error when a header is unknown, two headers claim one column, a
        header claims a derived column, a source column of a derivation is missing, or a
        required column is missing."""
        derived = self.derived
        accepted: dict[str, str] = {}
        for canonical in entity.columns:
            accepted[normalise_header(canonical)] = canonical
            for source in self.options(canonical).sources:
                accepted[normalise_header(source)] = canonical
        inputs = {normalise_header(s) for d in derived.values() for s in d.concat}
        ignored = {normalise_header(h) for h in self.ignore}
        found: dict[str, str] = {}
        present = {normalise_header(h) for h in headers}
        unknown = []
        for header in headers:
            key = normalise_header(header)
            canonical = accepted.get(key)
            if key in ignored or (key in inputs and canonical is None):
                continue
            if canonical is None:
                unknown.append(header)
                continue
            if canonical in derived:
                raise RecoError(
                    f"{file}: column {header!r} maps to {canonical!r}, which the mapping "
                    f"'{self.name}' derives ({derived[canonical].describe()}); list it under "
                    "ignore or remove the derivation"
                )
            if canonical in found:
                raise RecoError(
                    f"{file}: columns {found[canonical]!r} and {header!r} both map to {canonical!r}"
                )
            found[canonical] = header
        if unknown:
            shown = [h if len(h) <= 40 else h[:40] + "…" for h in unknown[:5]]
            raise RecoError(
                f"{file}: unknown column {shown[0]!r}"
                + (f" (and {', '.join(map(repr, shown[1:]))})" if len(shown) > 1 else "")
                + (f" and {len(unknown) - len(shown):,} more" if len(unknown) > len(shown) else "")
                + f" for {entity.name} with the mapping '{self.name}': "
                "expected the canonical columns "
                f"{', '.join(entity.columns)}; map it in a mapping file ([columns]) "
                "or list it under ignore"
            )
        for canonical, derivation in derived.items():
            for source in derivation.concat:
                if normalise_header(source) not in present:
                    raise RecoError(
                        f"{file}: missing column {source!r}, needed to derive {canonical!r} "
                        f"({derivation.describe()})"
                    )
            found[canonical] = f"derived: {derivation.describe()}"
        for column in entity.required:
            if column not in found:
                raise RecoError(f"{file}: missing required column {column!r}{self._sources_hint(column)}")
        for group in entity.one_of:
            if not any(c in found for c in group):
                names = " or ".join(repr(c) for c in group)
                raise RecoError(f"{file}: missing required column: one of {names}")
        return found

    def _sources_hint(self, column: str) -> str:
        sources = self.options(column).sources
        return f" (mapped from {' or '.join(map(repr, sources))})" if sources else ""


def _strings(value, where: str) -> tuple[str, ...]:
    if isinstance(value, str):
        return (value,)
    if isinstance(value, list) and all(isinstance(v, str) for v in value):
        return tuple(value)
    raise RecoError(f"{where}: expected a string or a list of strings, got {value!r}")


def _check_keys(table: dict, allowed: set[str], where: str) -> None:
    extra = sorted(set(table) - allowed)
    if extra:
        raise RecoError(f"{where}: unknown key {extra[0]!r}; expected one of {', '.join(sorted(allowed))}")


def _decimal(value, where: str) -> str | None:
    if value is None:
        return None
    if value not in (".", ","):
        raise RecoError(f"{where}: decimal must be '.' or ',', got {value!r}")
    return value


def _constant_text(value, where: str) -> str:
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, str | int | float):
        return str(value)
    raise RecoError(f"{where}: constant must be a string, a number or true/false, got {value!r}")


def _derivation(spec: dict, canonical: str, entity: Entity | None, where: str) -> Derivation | None:
    """The derivation of a column spec (constant / concat / basket), checked; None without."""
    kinds = [k for k in _DERIVATIONS if k in spec]
    if not kinds:
        if "sep" in spec:
            raise RecoError(f"{where}: sep only goes with concat")
        return None
    if len(kinds) > 1 or "from" in spec:
        given = ", ".join(k for k in ("from", *_DERIVATIONS) if k in spec)
        raise RecoError(f"{where}: expected one of from, constant, concat or basket, got {given}")
    if "sep" in spec and kinds != ["concat"]:
        raise RecoError(f"{where}: sep only goes with concat")
    if "constant" in spec:
        if canonical in _NEVER_CONSTANT:
            raise RecoError(
                f"{where}: a consent flag is never a constant; it must come from each customer's record"
            )
        return Derivation(constant=_constant_text(spec["constant"], where))
    if "concat" in spec:
        parts = _strings(spec["concat"], where)
        if len(parts) < 2:
            raise RecoError(f"{where}: concat needs at least two source columns (for one, use from)")
        sep = spec.get("sep", Derivation.sep)
        if not isinstance(sep, str):
            raise RecoError(f"{where}: sep must be a string, got {sep!r}")
        return Derivation(concat=parts, sep=sep)
    basket = spec["basket"]
    if basket not in BASKETS:
        raise RecoError(f"{where}: basket must be one of {', '.join(map(repr, BASKETS))}, got {basket!r}")
    if canonical != "doc_ref" or (entity is not None and entity.name != "sales"):
        raise RecoError(f"{where}: basket derives the sales doc_ref only")
    return Derivation(basket=basket)


def parse_mapping(data: dict, name: str, entity: Entity | None = None) -> Mapping:
    _check_keys(data, _TOP_KEYS, name)
    columns: dict[str, ColumnOptions] = {}
    for canonical, spec in data.get("columns", {}).items():
        where = f"{name}: [columns] {canonical}"
        if entity is not None and canonical not in entity.columns:
            raise RecoError(
                f"{where}: not a canonical column of {entity.name}; expected one of "
                f"{', '.join(entity.columns)}"
            )
        if isinstance(spec, dict):
            _check_keys(spec, _COLUMN_KEYS, where)
            opts = ColumnOptions(
                sources=_strings(spec["from"], where) if "from" in spec else (),
                derive=_derivation(spec, canonical, entity, where),
                date_format=spec.get("date_format"),
                decimal=_decimal(spec.get("decimal"), where),
                strip_decimal_zero=bool(spec.get("strip_decimal_zero", False)),
                true_values=_strings(spec.get("true_values", list(DEFAULT_TRUE)), where),
                false_values=_strings(spec.get("false_values", list(DEFAULT_FALSE)), where),
            )
        else:
            opts = ColumnOptions(sources=_strings(spec, where))
        columns[canonical] = opts
    lt = data.get("line_type", {})
    _check_keys(lt, _LINE_TYPE_KEYS, f"{name}: [line_type]")
    rules = LineTypeRules(
        cancellation_doc_prefixes=_strings(
            lt.get("cancellation_doc_prefixes", list(LineTypeRules.cancellation_doc_prefixes)), name
        ),
        adjustment_doc_prefixes=_strings(lt.get("adjustment_doc_prefixes", []), name),
        adjustment_product_keys=_strings(lt.get("adjustment_product_keys", []), name),
        negative_quantity_is_return=bool(lt.get("negative_quantity_is_return", True)),
    )
    delimiter = data.get("delimiter")
    if delimiter is not None and (not isinstance(delimiter, str) or len(delimiter.encode()) != 1):
        raise RecoError(f"{name}: delimiter must be one single-byte character, got {delimiter!r}")
    return Mapping(
        name=name,
        entity=data.get("entity"),
        encoding=data.get("encoding"),
        delimiter=delimiter,
        decimal=_decimal(data.get("decimal"), name),
        date_format=data.get("date_format"),
        null_values=_strings(data.get("null_values", list(DEFAULT_NULL_VALUES)), name),
        ignore=_strings(data.get("ignore", []), name),
        columns=columns,
        line_type=rules,
    )


def load_mapping(path: str | Path | None, entity: Entity) -> Mapping:
    """Read a mapping file; a bare name (``online_retail_ii``) finds a shipped mapping."""
    if path is None:
        return Mapping()
    p = Path(path)
    if not p.exists() and not p.suffix and (MAPPINGS_DIR / f"{p.name}.toml").exists():
        p = MAPPINGS_DIR / f"{p.name}.toml"
    if not p.is_file():
        shipped = ", ".join(sorted(f.stem for f in MAPPINGS_DIR.glob("*.toml")))
        raise RecoError(f"mapping file {path} not found (shipped mappings: {shipped})")
    try:
        data = tomllib.loads(p.read_text(encoding="utf-8"))
    except tomllib.TOMLDecodeError as exc:
        raise RecoError(f"{p}: not valid TOML: {exc}") from None
    mapping = parse_mapping(data, str(p), entity)
    if mapping.entity and mapping.entity != entity.name:
        raise RecoError(f"{p}: this mapping is for {mapping.entity}, not {entity.name}")
    return mapping
