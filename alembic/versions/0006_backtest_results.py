"""Backtest runs and their results (schema reco), written by ``reco backtest``.

Revision ID: 0006
Revises: 0005
Create Date: 2026-11-25
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects import postgresql

revision: str = "0006"
down_revision: str | None = "0005"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table(
        "backtest_run",
        sa.Column("backtest_id", sa.String(length=255), nullable=False),
        sa.Column("status", sa.String(length=16), nullable=False),
        sa.Column("cutoffs", postgresql.JSONB(astext_type=sa.Text()), nullable=False),
        sa.Column("horizon_days", sa.Integer(), nullable=False),
        sa.Column("with_contact_rules", sa.Boolean(), nullable=False),
        sa.Column("config_json", postgresql.JSONB(astext_type=sa.Text()), nullable=False),
        sa.Column("package_version", sa.String(length=64), nullable=True),
        sa.Column("git_commit", sa.String(length=64), nullable=True),
        sa.Column(
            "started_at",
            sa.DateTime(timezone=True),
            server_default=sa.text("now()"),
            nullable=False,
        ),
        sa.Column("finished_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("seconds", sa.Float(), nullable=True),
        sa.Column("error", sa.Text(), nullable=True),
        sa.CheckConstraint(
            "status in ('running', 'succeeded', 'failed')", name=op.f("ck_backtest_run_status")
        ),
        sa.PrimaryKeyConstraint("backtest_id", name=op.f("pk_backtest_run")),
        schema="reco",
    )
    op.create_table(
        "backtest_result",
        sa.Column("id", sa.BigInteger(), sa.Identity(always=False), nullable=False),
        sa.Column("backtest_id", sa.String(length=255), nullable=False),
        sa.Column("cutoff", sa.Date(), nullable=False),
        sa.Column("horizon_days", sa.Integer(), nullable=False),
        sa.Column("method", sa.String(length=32), nullable=False),
        sa.Column("scope", sa.String(length=32), nullable=False),
        sa.Column("metric", sa.String(length=32), nullable=False),
        sa.Column("value", sa.Float(), nullable=True),
        sa.Column("ci_low", sa.Float(), nullable=True),
        sa.Column("ci_high", sa.Float(), nullable=True),
        sa.Column("n_customers", sa.Integer(), nullable=False),
        sa.Column(
            "created_at",
            sa.DateTime(timezone=True),
            server_default=sa.text("now()"),
            nullable=False,
        ),
        sa.ForeignKeyConstraint(
            ["backtest_id"],
            ["reco.backtest_run.backtest_id"],
            name=op.f("fk_backtest_result_backtest_id_backtest_run"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_backtest_result")),
        sa.UniqueConstraint(
            "backtest_id",
            "cutoff",
            "method",
            "scope",
            "metric",
            name=op.f("uq_backtest_result_backtest_id_cutoff_method_scope_metric"),
        ),
        schema="reco",
    )
    op.create_index(
        op.f("ix_backtest_result_backtest_id"),
        "backtest_result",
        ["backtest_id"],
        unique=False,
        schema="reco",
    )
    op.create_index(
        op.f("ix_backtest_result_cutoff_method_metric"),
        "backtest_result",
        ["cutoff", "method", "metric"],
        unique=False,
        schema="reco",
    )


def downgrade() -> None:
    op.drop_index(
        op.f("ix_backtest_result_cutoff_method_metric"), table_name="backtest_result", schema="reco"
    )
    op.drop_index(op.f("ix_backtest_result_backtest_id"), table_name="backtest_result", schema="reco")
    op.drop_table("backtest_result", schema="reco")
    op.drop_table("backtest_run", schema="reco")
