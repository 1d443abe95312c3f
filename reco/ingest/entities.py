"""What each ``reco load`` entity accepts: canonical columns, their kinds, what is required.

The canonical columns are the columns of the Alembic-owned raw tables
(``reco/db/models/raw.py``) minus the lineage and key columns that ``reco load`` fills itself.
Kinds and text length limits are read from the SQLAlchemy models, so the two cannot drift.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from enum import StrEnum

from sqlalchemy import Boolean, Date, DateTime, Integer, Numeric, String, Table
from sqlalchemy.dialects.postgresql import JSONB

from reco.db.models import raw
from reco.errors import RecoError

#: Filled by ``reco load``, never read from a file.
LINEAGE_COLUMNS = ("id", "batch_id", "source_file", "file_no", "source_row", "loaded_at", "line_key")


class Kind(StrEnum):
    TEXT = "text"
    DECIMAL = "decimal"
    INT = "int"
    BOOL = "bool"
    DATE = "date"
    DATETIME = "datetime"
    TAGS = "tags"  # a list of text labels, stored as a JSON array


@dataclass(frozen=True)
class Column:
    name: str
    kind: Kind
    max_length: int | None = None
    #: Inclusive bounds for numbers (decimal / int).
    low: float | None = None
    high: float | None = None


@dataclass(frozen=True)
class Entity:
    name: str
    table: Table
    columns: dict[str, Column]
    #: Columns that must be present in the file and filled on every row.
    required: tuple[str, ...]
    #: Groups of columns of which at least one must be present / filled.
    one_of: tuple[tuple[str, ...], ...] = ()
    #: How duplicates are found: "line_key" (sales natural key, across batches),
    #: "row" (identical rows, across batches), "batch_row" (identical rows within the batch only:
    #: later exports of master data are kept as history).
    dedup: str = "batch_row"
    #: Reason code used when a required value is empty.
    missing_codes: dict[str, str] = field(default_factory=dict)

    @property
    def qualified_table(self) -> str:
        return f"{self.table.schema}.{self.table.name}"


def _kind(sa_type) -> tuple[Kind, int | None]:
    if isinstance(sa_type, JSONB):
        return Kind.TAGS, None
    if isinstance(sa_type, Boolean):
        return Kind.BOOL, None
    if isinstance(sa_type, DateTime):
        return Kind.DATETIME, None
    if isinstance(sa_type, Date):
        return Kind.DATE, None
    if isinstance(sa_type, Numeric):
        return Kind.DECIMAL, None
    if isinstance(sa_type, Integer):
        return Kind.INT, None
    if isinstance(sa_type, String):
        return Kind.TEXT, sa_type.length
    raise TypeError(f"no ingest kind for {sa_type!r}")


# Numeric(18, 4) holds |x| < 10^14.
_DECIMAL_LIMIT = 1e14 - 1

_RANGES: dict[str, tuple[float | None, float | None]] = {
    "premium_tier": (0, 3),
    **{
        f"aroma_{axis}": (1, 5)
        for axis in ("fruity", "floral", "spicy", "herbal", "mineral", "woody", "toasty")
    },
    "unit_price": (None, None),  # negative prices exist on adjustments; checked by line type
}


def _columns(table: Table) -> dict[str, Column]:
    out = {}
    for col in table.columns:
        if col.name in LINEAGE_COLUMNS:
            continue
        kind, length = _kind(col.type)
        low, high = _RANGES.get(col.name, (None, None))
        if kind is Kind.DECIMAL:
            low = -_DECIMAL_LIMIT if low is None else low
            high = _DECIMAL_LIMIT if high is None else high
        out[col.name] = Column(col.name, kind, length, low, high)
    return out


_MISSING = {
    "customer_code": "missing_customer",
    "product_key": "missing_product",
    "product_label": "missing_product",
    "doc_ref": "missing_doc_ref",
    "order_date": "missing_date",
    "contact_date": "missing_date",
    "quantity": "missing_quantity",
    "alias_label": "missing_label",
    "amount_ht": "missing_amount",
    "unit_price": "missing_amount",
}


def _entity(name: str, model, **rules) -> Entity:
    """An entity landing in ``model``'s table, with its columns and the shared missing codes."""
    return Entity(name, model.__table__, _columns(model.__table__), missing_codes=_MISSING, **rules)


ENTITIES: dict[str, Entity] = {
    "customers": _entity(
        "customers",
        raw.RawCustomer,
        required=("customer_code",),
    ),
    "sales": _entity(
        "sales",
        raw.RawSalesLine,
        required=("doc_ref", "customer_code", "quantity"),
        # a date (order_date, or the date part of order_ts), a product and a price or amount
        one_of=(
            ("order_date", "order_ts"),
            ("product_key", "product_label"),
            ("unit_price", "amount_ht"),
        ),
        dedup="line_key",
    ),
    "products": _entity(
        "products",
        raw.RawProduct,
        required=("product_key",),
    ),
    "aliases": _entity(
        "aliases",
        raw.RawProductAlias,
        required=("alias_label", "product_key"),
    ),
    "contacts": _entity(
        "contacts",
        raw.RawContact,
        required=("customer_code", "contact_date"),
        dedup="row",
    ),
}

#: Line types of a sales line (``raw.sales_line.line_type``).
LINE_TYPES = ("sale", "return", "cancellation", "adjustment")


def entity(name: str) -> Entity:
    try:
        return ENTITIES[name]
    except KeyError:
        raise RecoError(f"unknown entity {name!r}: expected one of {', '.join(ENTITIES)}") from None
