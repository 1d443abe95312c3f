"""Raw landing tables (schema ``raw``), written only by ``reco load``.

Every landed row carries its lineage: the batch that loaded it, the file, the row number in
that file (1 = first data row after the header) and when it was loaded. Rows are typed and
validated; rows that could not be used go to ``raw.reject`` with their raw text and reasons.

``raw.sales_line``, by far the largest table, keeps its rows narrow: a file number within the
batch (``raw.load_file`` holds the path and checksum) instead of the path, and the load time
once per batch (``raw.load_batch.loaded_at``); the view ``raw.sales_line_lineage`` (migration
0007) shows every line with its file path and load time.
"""

import uuid
from datetime import date, datetime
from decimal import Decimal

from sqlalchemy import (
    BigInteger,
    Boolean,
    Date,
    DateTime,
    Float,
    Identity,
    Index,
    Integer,
    Numeric,
    PrimaryKeyConstraint,
    SmallInteger,
    String,
    Text,
    func,
)
from sqlalchemy.dialects.postgresql import JSONB, UUID
from sqlalchemy.orm import Mapped, mapped_column

from reco.db.models.base import RAW_SCHEMA, Base

SCHEMA = {"schema": RAW_SCHEMA}


class LoadBatch(Base):
    """One call of ``reco load`` for one entity: all of its rows land, or none do."""

    __tablename__ = "load_batch"
    __table_args__ = SCHEMA

    batch_id: Mapped[str] = mapped_column(String(255), primary_key=True)
    entity: Mapped[str] = mapped_column(String(32))
    status: Mapped[str] = mapped_column(String(16))  # running | succeeded | failed | duplicate
    files: Mapped[list] = mapped_column(JSONB)  # [{path, sha256, bytes, rows_read, ...}]
    rows_read: Mapped[int] = mapped_column(BigInteger, default=0)
    rows_loaded: Mapped[int] = mapped_column(BigInteger, default=0)
    rows_rejected: Mapped[int] = mapped_column(BigInteger, default=0)
    rows_duplicate: Mapped[int] = mapped_column(BigInteger, default=0)
    options: Mapped[dict] = mapped_column(JSONB, default=dict)
    started_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), server_default=func.now())
    finished_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))
    seconds: Mapped[float | None] = mapped_column(Float)
    error: Mapped[str | None] = mapped_column(Text)
    #: The transaction time of the batch: when its rows landed (``loaded_at`` of its sales lines).
    loaded_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), server_default=func.now())


class LoadFile(Base):
    """The files of a batch, numbered in the order given (``raw.sales_line.file_no``)."""

    __tablename__ = "load_file"
    __table_args__ = (PrimaryKeyConstraint("batch_id", "file_no"), SCHEMA)

    batch_id: Mapped[str] = mapped_column(String(255))
    file_no: Mapped[int] = mapped_column(SmallInteger)
    path: Mapped[str] = mapped_column(Text)
    sha256: Mapped[str | None] = mapped_column(String(64))
    bytes: Mapped[int | None] = mapped_column(BigInteger)


class _Lineage:
    batch_id: Mapped[str] = mapped_column(String(255))
    source_file: Mapped[str] = mapped_column(Text)
    source_row: Mapped[int] = mapped_column(BigInteger)
    loaded_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), server_default=func.now())


class RawCustomer(_Lineage, Base):
    """Customer records as exported by the CRM / e-shop (one row per source row)."""

    __tablename__ = "customer"
    __table_args__ = (Index(None, "customer_code"), SCHEMA)

    id: Mapped[int] = mapped_column(BigInteger, Identity(), primary_key=True)
    customer_code: Mapped[str] = mapped_column(String(255))
    email: Mapped[str | None] = mapped_column(String(512))
    first_name: Mapped[str | None] = mapped_column(String(255))
    last_name: Mapped[str | None] = mapped_column(String(255))
    country: Mapped[str | None] = mapped_column(String(255))
    is_contactable: Mapped[bool | None] = mapped_column(Boolean)
    is_bounced: Mapped[bool | None] = mapped_column(Boolean)
    is_optout: Mapped[bool | None] = mapped_column(Boolean)
    signup_date: Mapped[date | None] = mapped_column(Date)
    updated_at: Mapped[datetime | None] = mapped_column(DateTime)


class RawSalesLine(Base):
    """Invoice / order lines. ``line_key`` is the natural key that makes overlapping exports
    idempotent (see docs/ingestion.md): the first 16 bytes of the sha256 of the key text, as a
    ``uuid``. Returns and cancellations are kept and flagged. No secondary index but the unique
    ``line_key``: dbt scans the landing table in full, and an index would only cost load time
    (migration 0004). Lineage: ``batch_id``, ``file_no`` (see ``raw.load_file``) and
    ``source_row`` on every row; the path and ``loaded_at`` through ``raw.sales_line_lineage``."""

    __tablename__ = "sales_line"
    __table_args__ = SCHEMA

    id: Mapped[int] = mapped_column(BigInteger, Identity(), primary_key=True)
    line_key: Mapped[uuid.UUID] = mapped_column(UUID(as_uuid=True), unique=True)
    batch_id: Mapped[str] = mapped_column(String(255))
    file_no: Mapped[int] = mapped_column(SmallInteger)
    source_row: Mapped[int] = mapped_column(BigInteger)
    doc_ref: Mapped[str] = mapped_column(String(255))
    order_date: Mapped[date] = mapped_column(Date)
    order_ts: Mapped[datetime | None] = mapped_column(DateTime)
    customer_code: Mapped[str] = mapped_column(String(255))
    product_key: Mapped[str | None] = mapped_column(String(255))
    product_label: Mapped[str | None] = mapped_column(String(512))
    quantity: Mapped[Decimal] = mapped_column(Numeric(18, 4))
    unit_price: Mapped[Decimal | None] = mapped_column(Numeric(18, 4))
    amount_ht: Mapped[Decimal] = mapped_column(Numeric(18, 4))
    amount_ttc: Mapped[Decimal | None] = mapped_column(Numeric(18, 4))
    country: Mapped[str | None] = mapped_column(String(255))
    #: sale | return | cancellation | adjustment
    line_type: Mapped[str] = mapped_column(String(16))


class RawProduct(_Lineage, Base):
    """Catalogue rows with wine attributes (all optional but the key)."""

    __tablename__ = "product"
    __table_args__ = (Index(None, "product_key"), SCHEMA)

    id: Mapped[int] = mapped_column(BigInteger, Identity(), primary_key=True)
    product_key: Mapped[str] = mapped_column(String(255))
    product_label: Mapped[str | None] = mapped_column(String(512))
    family_crm: Mapped[str | None] = mapped_column(String(255))
    cepage: Mapped[str | None] = mapped_column(String(255))
    sucrosite_niveau: Mapped[str | None] = mapped_column(String(50))
    price_band: Mapped[str | None] = mapped_column(String(50))
    premium_tier: Mapped[int | None] = mapped_column(Integer)
    unit_price: Mapped[Decimal | None] = mapped_column(Numeric(18, 4))
    aroma_fruity: Mapped[int | None] = mapped_column(Integer)
    aroma_floral: Mapped[int | None] = mapped_column(Integer)
    aroma_spicy: Mapped[int | None] = mapped_column(Integer)
    aroma_herbal: Mapped[int | None] = mapped_column(Integer)
    aroma_mineral: Mapped[int | None] = mapped_column(Integer)
    aroma_woody: Mapped[int | None] = mapped_column(Integer)
    aroma_toasty: Mapped[int | None] = mapped_column(Integer)
    is_active: Mapped[bool | None] = mapped_column(Boolean)
    season_tags: Mapped[list | None] = mapped_column(JSONB)


class RawProductAlias(_Lineage, Base):
    """Curated label → product mappings loaded with ``reco load aliases``."""

    __tablename__ = "product_alias"
    __table_args__ = SCHEMA

    id: Mapped[int] = mapped_column(BigInteger, Identity(), primary_key=True)
    alias_label: Mapped[str] = mapped_column(String(512))
    product_key: Mapped[str] = mapped_column(String(255))


class RawContact(_Lineage, Base):
    """Contact history exported by the e-mailing tool (imported, not made by reco)."""

    __tablename__ = "contact"
    __table_args__ = (Index(None, "customer_code", "contact_date"), SCHEMA)

    id: Mapped[int] = mapped_column(BigInteger, Identity(), primary_key=True)
    customer_code: Mapped[str] = mapped_column(String(255))
    contact_date: Mapped[date] = mapped_column(Date)
    channel: Mapped[str | None] = mapped_column(String(50))
    campaign_id: Mapped[str | None] = mapped_column(String(255))
    #: the tool's result, free text: sent, delivered, opened, clicked, bounced, unsubscribed …
    #: (a hard bounce or an unsubscribe tightens consent at dbt build: docs/campaigns.md)
    status: Mapped[str | None] = mapped_column(String(50))


class Reject(Base):
    """A source row that could not be used, kept verbatim with its reasons."""

    __tablename__ = "reject"
    __table_args__ = (Index(None, "batch_id"), SCHEMA)

    id: Mapped[int] = mapped_column(BigInteger, Identity(), primary_key=True)
    batch_id: Mapped[str] = mapped_column(String(255))
    entity: Mapped[str] = mapped_column(String(32))
    source_file: Mapped[str] = mapped_column(Text)
    source_row: Mapped[int] = mapped_column(BigInteger)
    raw_text: Mapped[str] = mapped_column(Text)
    reason_codes: Mapped[list] = mapped_column(JSONB)  # ["missing_customer", "bad_date", ...]
    details: Mapped[str | None] = mapped_column(
        Text
    )  # "column order_date: expected a date, got '31/02/2021'"
    loaded_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), server_default=func.now())
