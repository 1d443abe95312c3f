"""Backtest runs and their results (schema ``reco``), written by ``reco backtest``.

One module of its own so that the tables of ``reco.py`` and these evolve apart.
"""

from datetime import date, datetime

from sqlalchemy import (
    BigInteger,
    Boolean,
    CheckConstraint,
    Date,
    DateTime,
    Float,
    ForeignKey,
    Identity,
    Index,
    Integer,
    String,
    Text,
    UniqueConstraint,
    func,
)
from sqlalchemy.dialects.postgresql import JSONB
from sqlalchemy.orm import Mapped, mapped_column

from reco.db.models.base import RECO_SCHEMA, Base

SCHEMA = {"schema": RECO_SCHEMA}


class BacktestRun(Base):
    """One call of ``reco backtest``: one or several cutoffs (walk-forward), one horizon."""

    __tablename__ = "backtest_run"
    __table_args__ = (
        CheckConstraint("status in ('running', 'succeeded', 'failed')", name="status"),
        SCHEMA,
    )

    backtest_id: Mapped[str] = mapped_column(String(255), primary_key=True)
    status: Mapped[str] = mapped_column(String(16))
    cutoffs: Mapped[list] = mapped_column(JSONB)  # ["2011-03-01", ...]
    horizon_days: Mapped[int] = mapped_column(Integer)
    with_contact_rules: Mapped[bool] = mapped_column(Boolean, default=False)
    config_json: Mapped[dict] = mapped_column(JSONB, default=dict)
    package_version: Mapped[str | None] = mapped_column(String(64))
    git_commit: Mapped[str | None] = mapped_column(String(64))
    started_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), server_default=func.now())
    finished_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))
    seconds: Mapped[float | None] = mapped_column(Float)
    error: Mapped[str | None] = mapped_column(Text)


class BacktestResult(Base):
    """One metric of one method on one scope (overall or a scenario) at one cutoff."""

    __tablename__ = "backtest_result"
    __table_args__ = (
        Index(None, "backtest_id"),
        Index(None, "cutoff", "method", "metric"),
        UniqueConstraint("backtest_id", "cutoff", "method", "scope", "metric"),
        SCHEMA,
    )

    id: Mapped[int] = mapped_column(BigInteger, Identity(), primary_key=True)
    backtest_id: Mapped[str] = mapped_column(
        String(255), ForeignKey(f"{RECO_SCHEMA}.backtest_run.backtest_id", ondelete="CASCADE")
    )
    cutoff: Mapped[date] = mapped_column(Date)
    horizon_days: Mapped[int] = mapped_column(Integer)
    #: PLATFORM | POP | REPEAT | TIFU-KNN | SAR | RANDOM
    method: Mapped[str] = mapped_column(String(32))
    #: overall | a scenario (REBUY, CROSS_SELL, ...)
    scope: Mapped[str] = mapped_column(String(32))
    #: hit | precision | recall | ndcg | map | new_item_share | new_item_hit | coverage
    metric: Mapped[str] = mapped_column(String(32))
    value: Mapped[float | None] = mapped_column(Float)
    ci_low: Mapped[float | None] = mapped_column(Float)
    ci_high: Mapped[float | None] = mapped_column(Float)
    n_customers: Mapped[int] = mapped_column(Integer)
    created_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), server_default=func.now())
