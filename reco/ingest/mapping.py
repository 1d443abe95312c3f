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

    [line_type]                           # sales only
    cancellation_doc_prefixes = ["C"]
    adjustment_doc_prefixes = ["A"]
    adjustment_product_keys = ["POST", "DOT", "M"]

Headers are matched case-insensitively, ignoring spaces, dashes and underscores; the canonical
name of a column is always accepted too.
"""

from __future__ import annotations

import re
import tomllib
from dataclasses import dataclass, field, replace
from pathlib import Path

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
}
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


@dataclass(frozen=True)
class ColumnOptions:
    sources: tuple[str, ...] = ()
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
        """canonical column -> source header, for one file; one clear error when a header is
        unknown, two headers claim one column, or a required column is missing."""
        accepted: dict[str, str] = {}
        for canonical in entity.columns:
            accepted[normalise_header(canonical)] = canonical
            for source in self.options(canonical).sources:
                accepted[normalise_header(source)] = canonical
        ignored = {normalise_header(h) for h in self.ignore}
        found: dict[str, str] = {}
        unknown = []
        for header in headers:
            key = normalise_header(header)
            if key in ignored:
                continue
            canonical = accepted.get(key)
            if canonical is None:
                unknown.append(header)
                continue
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
