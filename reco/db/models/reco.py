"""Runs, recommendations, audit and campaign events (schema ``reco``), written by Python.

There are deliberately no foreign keys into dbt-built tables (customer, product): dbt rebuilds
those, and dbt ``relationships`` tests check the links instead.
"""

from datetime import date, datetime
from decimal import Decimal

from sqlalchemy import (
    JSON,
    BigInteger,
    Boolean,
    CheckConstraint,
    Date,
    DateTime,
    Float,
    Identity,
    Index,
    Integer,
    Numeric,
    String,
    Text,
    UniqueConstraint,
    func,
)
from sqlalchemy.dialects.postgresql import JSONB
from sqlalchemy.orm import Mapped, mapped_column

from reco.db.models.base import RECO_SCHEMA, Base
from reco.vocab import SCENARIOS

SCHEMA = {"schema": RECO_SCHEMA}
_SCENARIO_SQL = ", ".join(f"'{s}'" for s in SCENARIOS)


class RecoRun(Base):
    """Metadata of one scoring run."""

    __tablename__ = "reco_run"
    __table_args__ = (
        CheckConstraint("status in ('running', 'succeeded', 'failed')", name="status"),
        SCHEMA,
    )

    run_id: Mapped[str] = mapped_column(String(255), primary_key=True)
    status: Mapped[str] = mapped_column(String(16))
    as_of: Mapped[date | None] = mapped_column(Date)
    started_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), server_default=func.now())
    finished_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))
    config_json: Mapped[dict] = mapped_column(JSONB, default=dict)
    package_version: Mapped[str | None] = mapped_column(String(64))
    git_commit: Mapped[str | None] = mapped_column(String(64))
    input_fingerprint: Mapped[dict | None] = mapped_column(JSONB)
    counts_json: Mapped[dict | None] = mapped_column(JSONB)
    n_eligible: Mapped[int | None] = mapped_column(Integer)
    n_suppressed: Mapped[int | None] = mapped_column(Integer)
    error: Mapped[str | None] = mapped_column(Text)


class RecoItem(Base):
    """One recommended product for one customer in one run (rank 1..3)."""

    __tablename__ = "reco_item"
    __table_args__ = (
        Index("ix_reco_run_customer", "run_id", "customer_code"),
        UniqueConstraint("run_id", "customer_code", "rank"),
        CheckConstraint("rank between 1 and 3", name="rank"),
        CheckConstraint(f"scenario in ({_SCENARIO_SQL})", name="scenario"),
        SCHEMA,
    )

    id: Mapped[int] = mapped_column(BigInteger, Identity(), primary_key=True)
    #: No physical foreign key to reco_run: a per-row FK check made bulk writes 4x slower
    #: (docs/scoring.md); run_scoring writes and deletes a run's rows with the run itself.
    run_id: Mapped[str] = mapped_column(String(255))
    customer_code: Mapped[str] = mapped_column(String(255))
    scenario: Mapped[str] = mapped_column(String(50))
    rank: Mapped[int] = mapped_column(Integer)
    product_key: Mapped[str] = mapped_column(String(255))
    score: Mapped[float] = mapped_column(Float)
    reasons_json: Mapped[dict] = mapped_column(JSON)


class AuditItem(Base):
    """A suppression, a fallback or a data-quality flag raised during a run."""

    __tablename__ = "audit_item"
    __table_args__ = (
        Index("ix_audit_run_customer", "run_id", "customer_code"),
        CheckConstraint("severity in ('info', 'warning', 'error')", name="severity"),
        SCHEMA,
    )

    id: Mapped[int] = mapped_column(BigInteger, Identity(), primary_key=True)
    #: No physical foreign key to reco_run: a per-row FK check made bulk writes 4x slower
    #: (docs/scoring.md); run_scoring writes and deletes a run's rows with the run itself.
    run_id: Mapped[str] = mapped_column(String(255))
    customer_code: Mapped[str | None] = mapped_column(String(255))
    #: suppressed | fallback | data_quality | export_suppressed (reco export)
    kind: Mapped[str] = mapped_column(String(32))
    reason_code: Mapped[str] = mapped_column(String(64))
    severity: Mapped[str] = mapped_column(String(16))
    product_key: Mapped[str | None] = mapped_column(String(255))
    details_json: Mapped[dict | None] = mapped_column(JSON)


class RunCustomer(Base):
    """The group of one scored customer in one run: ``treatment`` (to be sent) or ``control``
    (held out, the attribution baseline). Written with the run's items, in their transaction."""

    __tablename__ = "run_customer"
    __table_args__ = (
        CheckConstraint("grp in ('treatment', 'control')", name="grp"),
        CheckConstraint(f"scenario in ({_SCENARIO_SQL})", name="scenario"),
        CheckConstraint("export_status in ('exported', 'suppressed')", name="export_status"),
        SCHEMA,
    )

    run_id: Mapped[str] = mapped_column(String(255), primary_key=True)
    customer_code: Mapped[str] = mapped_column(String(255), primary_key=True)
    scenario: Mapped[str] = mapped_column(String(50))
    grp: Mapped[str] = mapped_column(String(16))
    #: what the run's latest ``reco export`` did with a treated customer (null: not exported
    #: yet, and always for a control customer); ``reco contacts record`` reads it
    export_status: Mapped[str | None] = mapped_column(String(16))
    #: the customer's RFM segment (marts.client_master_profile.segment) when the run scored it,
    #: so that uplift can be read per run, scenario and segment after the marts have moved on
    segment: Mapped[str | None] = mapped_column(String(64))


class ContactEvent(Base):
    """A contact made (or withheld, for the control group) by a campaign built from a run."""

    __tablename__ = "contact_event"
    __table_args__ = (
        Index("ix_contact_customer_date", "customer_code", "contact_date"),
        #: a run's customer is recorded once (reco contacts record is idempotent)
        Index("ux_contact_event_run_customer", "run_id", "customer_code", unique=True),
        SCHEMA,
    )

    id: Mapped[int] = mapped_column(BigInteger, Identity(), primary_key=True)
    customer_code: Mapped[str] = mapped_column(String(255))
    contact_date: Mapped[date] = mapped_column(Date)
    channel: Mapped[str] = mapped_column(String(50), default="email")
    campaign_id: Mapped[str | None] = mapped_column(String(255))
    run_id: Mapped[str | None] = mapped_column(String(255))
    scenario: Mapped[str | None] = mapped_column(String(50))
    is_control: Mapped[bool] = mapped_column(Boolean, default=False)
    created_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), server_default=func.now())


class OutcomeEvent(Base):
    """A purchase attributed to a campaign contact (or to its control group)."""

    __tablename__ = "outcome_event"
    __table_args__ = (Index(None, "run_id", "customer_code"), SCHEMA)

    id: Mapped[int] = mapped_column(BigInteger, Identity(), primary_key=True)
    run_id: Mapped[str | None] = mapped_column(String(255))
    campaign_id: Mapped[str | None] = mapped_column(String(255))
    customer_code: Mapped[str] = mapped_column(String(255))
    is_control: Mapped[bool] = mapped_column(Boolean, default=False)
    order_date: Mapped[date] = mapped_column(Date)
    doc_ref: Mapped[str | None] = mapped_column(String(255))
    product_key: Mapped[str | None] = mapped_column(String(255))
    was_recommended: Mapped[bool] = mapped_column(Boolean, default=False)
    amount_ht: Mapped[Decimal | None] = mapped_column(Numeric(18, 4))
    created_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), server_default=func.now())


class RunOutcome(Base):
    """What one customer of a run (treated or control) bought in the run's outcome window: the
    grain of the uplift report and of the campaign marts. Written by ``reco outcomes``; a run's
    customer is counted once (the primary key), and a rerun replaces the run's rows."""

    __tablename__ = "run_outcome"
    __table_args__ = (
        CheckConstraint("grp in ('treatment', 'control')", name="grp"),
        CheckConstraint(f"scenario in ({_SCENARIO_SQL})", name="scenario"),
        CheckConstraint("window_days > 0", name="window_days"),
        CheckConstraint("n_orders >= 0", name="n_orders"),
        SCHEMA,
    )

    run_id: Mapped[str] = mapped_column(String(255), primary_key=True)
    customer_code: Mapped[str] = mapped_column(String(255), primary_key=True)
    campaign_id: Mapped[str | None] = mapped_column(String(255))
    grp: Mapped[str] = mapped_column(String(16))
    scenario: Mapped[str] = mapped_column(String(50))
    segment: Mapped[str | None] = mapped_column(String(64))
    #: a treated customer who was really contacted (a non-control contact_event of the run);
    #: false for every control customer and for a treated customer left out at export
    contacted: Mapped[bool] = mapped_column(Boolean)
    #: the window is [window_start, window_start + window_days): the campaign's send date
    window_start: Mapped[date] = mapped_column(Date)
    window_days: Mapped[int] = mapped_column(Integer)
    #: measured before the window closed (``reco outcomes --partial``): labelled wherever shown
    is_partial: Mapped[bool] = mapped_column(Boolean)
    n_orders: Mapped[int] = mapped_column(Integer)
    revenue: Mapped[Decimal] = mapped_column(Numeric(18, 4))
    bought_recommended: Mapped[bool] = mapped_column(Boolean)
    bought_recommended_family: Mapped[bool] = mapped_column(Boolean)
    #: days from the send date to the first purchase in the window (null: no purchase)
    days_to_first_purchase: Mapped[int | None] = mapped_column(Integer)
    measured_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), server_default=func.now())


class WarehouseBuild(Base):
    """A successful ``reco dbt build`` of the warehouse (one row per build, per schema prefix):
    which path it took (``full`` or ``incremental``) and why, and the state of its inputs when
    it finished. The next build compares the inputs with the latest row to decide whether an
    incremental build is safe (reco/dbt/incremental.py, docs/warehouse.md). Written only after
    dbt succeeded: a build that failed or was killed leaves no row, so the next one compares
    with the last build that did finish."""

    __tablename__ = "warehouse_build"
    __table_args__ = (
        CheckConstraint("path in ('full', 'incremental')", name="path"),
        Index("ix_warehouse_build_prefix", "schema_prefix", "id"),
        SCHEMA,
    )

    id: Mapped[int] = mapped_column(BigInteger, Identity(), primary_key=True)
    #: the backtest's schema prefix ("" for the live warehouse)
    schema_prefix: Mapped[str] = mapped_column(String(255))
    path: Mapped[str] = mapped_column(String(16))
    reason: Mapped[str] = mapped_column(Text)
    #: the fingerprint of the inputs (project files, settings, as-of date, mapping hashes)
    state: Mapped[dict] = mapped_column(JSONB)
    seconds: Mapped[float] = mapped_column(Float)
    finished_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), server_default=func.now())
