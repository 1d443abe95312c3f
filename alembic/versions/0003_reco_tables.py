"""Runs, items, audit, contact and outcome events (schema reco).

Revision ID: 0003
Revises: 0002
Create Date: 2026-11-25
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects import postgresql

revision: str = "0003"
down_revision: str | None = "0002"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table(
        "contact_event",
        sa.Column("id", sa.BigInteger(), sa.Identity(always=False), nullable=False),
        sa.Column("customer_code", sa.String(length=255), nullable=False),
        sa.Column("contact_date", sa.Date(), nullable=False),
        sa.Column("channel", sa.String(length=50), nullable=False),
        sa.Column("campaign_id", sa.String(length=255), nullable=True),
        sa.Column("run_id", sa.String(length=255), nullable=True),
        sa.Column("scenario", sa.String(length=50), nullable=True),
        sa.Column("is_control", sa.Boolean(), nullable=False),
        sa.Column(
            "created_at",
            sa.DateTime(timezone=True),
            server_default=sa.text("now()"),
            nullable=False,
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_contact_event")),
        schema="reco",
    )
    op.create_index(
        "ix_contact_customer_date",
        "contact_event",
        ["customer_code", "contact_date"],
        unique=False,
        schema="reco",
    )
    op.create_table(
        "outcome_event",
        sa.Column("id", sa.BigInteger(), sa.Identity(always=False), nullable=False),
        sa.Column("run_id", sa.String(length=255), nullable=True),
        sa.Column("campaign_id", sa.String(length=255), nullable=True),
        sa.Column("customer_code", sa.String(length=255), nullable=False),
        sa.Column("is_control", sa.Boolean(), nullable=False),
        sa.Column("order_date", sa.Date(), nullable=False),
        sa.Column("doc_ref", sa.String(length=255), nullable=True),
        sa.Column("product_key", sa.String(length=255), nullable=True),
        sa.Column("was_recommended", sa.Boolean(), nullable=False),
        sa.Column("amount_ht", sa.Numeric(precision=18, scale=4), nullable=True),
        sa.Column(
            "created_at",
            sa.DateTime(timezone=True),
            server_default=sa.text("now()"),
            nullable=False,
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_outcome_event")),
        schema="reco",
    )
    op.create_index(
        op.f("ix_outcome_event_run_id_customer_code"),
        "outcome_event",
        ["run_id", "customer_code"],
        unique=False,
        schema="reco",
    )
    op.create_table(
        "reco_run",
        sa.Column("run_id", sa.String(length=255), nullable=False),
        sa.Column("status", sa.String(length=16), nullable=False),
        sa.Column("as_of", sa.Date(), nullable=True),
        sa.Column(
            "started_at",
            sa.DateTime(timezone=True),
            server_default=sa.text("now()"),
            nullable=False,
        ),
        sa.Column("finished_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("config_json", postgresql.JSONB(astext_type=sa.Text()), nullable=False),
        sa.Column("package_version", sa.String(length=64), nullable=True),
        sa.Column("git_commit", sa.String(length=64), nullable=True),
        sa.Column("input_fingerprint", postgresql.JSONB(astext_type=sa.Text()), nullable=True),
        sa.Column("counts_json", postgresql.JSONB(astext_type=sa.Text()), nullable=True),
        sa.Column("n_eligible", sa.Integer(), nullable=True),
        sa.Column("n_suppressed", sa.Integer(), nullable=True),
        sa.Column("error", sa.Text(), nullable=True),
        sa.CheckConstraint("status in ('running', 'succeeded', 'failed')", name=op.f("ck_reco_run_status")),
        sa.PrimaryKeyConstraint("run_id", name=op.f("pk_reco_run")),
        schema="reco",
    )
    op.create_table(
        "audit_item",
        sa.Column("id", sa.BigInteger(), sa.Identity(always=False), nullable=False),
        sa.Column("run_id", sa.String(length=255), nullable=False),
        sa.Column("customer_code", sa.String(length=255), nullable=True),
        sa.Column("kind", sa.String(length=32), nullable=False),
        sa.Column("reason_code", sa.String(length=64), nullable=False),
        sa.Column("severity", sa.String(length=16), nullable=False),
        sa.Column("product_key", sa.String(length=255), nullable=True),
        sa.Column("details_json", sa.JSON(), nullable=True),
        sa.CheckConstraint("severity in ('info', 'warning', 'error')", name=op.f("ck_audit_item_severity")),
        sa.ForeignKeyConstraint(
            ["run_id"],
            ["reco.reco_run.run_id"],
            name=op.f("fk_audit_item_run_id_reco_run"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_audit_item")),
        schema="reco",
    )
    op.create_index(
        "ix_audit_run_customer",
        "audit_item",
        ["run_id", "customer_code"],
        unique=False,
        schema="reco",
    )
    op.create_table(
        "reco_item",
        sa.Column("id", sa.BigInteger(), sa.Identity(always=False), nullable=False),
        sa.Column("run_id", sa.String(length=255), nullable=False),
        sa.Column("customer_code", sa.String(length=255), nullable=False),
        sa.Column("scenario", sa.String(length=50), nullable=False),
        sa.Column("rank", sa.Integer(), nullable=False),
        sa.Column("product_key", sa.String(length=255), nullable=False),
        sa.Column("score", sa.Float(), nullable=False),
        sa.Column("reasons_json", sa.JSON(), nullable=False),
        sa.CheckConstraint(
            "scenario in ('REBUY', 'CROSS_SELL', 'UPSELL', 'WINBACK', 'NURTURE')",
            name=op.f("ck_reco_item_scenario"),
        ),
        sa.CheckConstraint("rank between 1 and 3", name=op.f("ck_reco_item_rank")),
        sa.ForeignKeyConstraint(
            ["run_id"],
            ["reco.reco_run.run_id"],
            name=op.f("fk_reco_item_run_id_reco_run"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_reco_item")),
        sa.UniqueConstraint(
            "run_id", "customer_code", "rank", name=op.f("uq_reco_item_run_id_customer_code_rank")
        ),
        schema="reco",
    )
    op.create_index(
        "ix_reco_run_customer",
        "reco_item",
        ["run_id", "customer_code"],
        unique=False,
        schema="reco",
    )


def downgrade() -> None:
    op.drop_index("ix_reco_run_customer", table_name="reco_item", schema="reco")
    op.drop_table("reco_item", schema="reco")
    op.drop_index("ix_audit_run_customer", table_name="audit_item", schema="reco")
    op.drop_table("audit_item", schema="reco")
    op.drop_table("reco_run", schema="reco")
    op.drop_index(op.f("ix_outcome_event_run_id_customer_code"), table_name="outcome_event", schema="reco")
    op.drop_table("outcome_event", schema="reco")
    op.drop_index("ix_contact_customer_date", table_name="contact_event", schema="reco")
    op.drop_table("contact_event", schema="reco")
