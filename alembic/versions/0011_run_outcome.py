"""Campaign outcomes per run and customer (reco.run_outcome), and the customer's RFM segment at
scoring time (reco.run_customer.segment), so uplift reads per run, scenario and segment.

Revision ID: 0011
Revises: 0010
Create Date: 2026-12-07
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0011"
down_revision: str | None = "0010"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.add_column("run_customer", sa.Column("segment", sa.String(length=64), nullable=True), schema="reco")
    op.create_table(
        "run_outcome",
        sa.Column("run_id", sa.String(length=255), nullable=False),
        sa.Column("customer_code", sa.String(length=255), nullable=False),
        sa.Column("campaign_id", sa.String(length=255), nullable=True),
        sa.Column("grp", sa.String(length=16), nullable=False),
        sa.Column("scenario", sa.String(length=50), nullable=False),
        sa.Column("segment", sa.String(length=64), nullable=True),
        sa.Column("contacted", sa.Boolean(), nullable=False),
        sa.Column("window_start", sa.Date(), nullable=False),
        sa.Column("window_days", sa.Integer(), nullable=False),
        sa.Column("is_partial", sa.Boolean(), nullable=False),
        sa.Column("n_orders", sa.Integer(), nullable=False),
        sa.Column("revenue", sa.Numeric(precision=18, scale=4), nullable=False),
        sa.Column("bought_recommended", sa.Boolean(), nullable=False),
        sa.Column("bought_recommended_family", sa.Boolean(), nullable=False),
        sa.Column("days_to_first_purchase", sa.Integer(), nullable=True),
        sa.Column("measured_at", sa.DateTime(timezone=True), server_default=sa.text("now()"), nullable=False),
        sa.CheckConstraint("grp in ('treatment', 'control')", name=op.f("ck_run_outcome_grp")),
        sa.CheckConstraint(
            "scenario in ('REBUY', 'CROSS_SELL', 'UPSELL', 'WINBACK', 'NURTURE')",
            name=op.f("ck_run_outcome_scenario"),
        ),
        sa.CheckConstraint("window_days > 0", name=op.f("ck_run_outcome_window_days")),
        sa.CheckConstraint("n_orders >= 0", name=op.f("ck_run_outcome_n_orders")),
        sa.PrimaryKeyConstraint("run_id", "customer_code", name=op.f("pk_run_outcome")),
        schema="reco",
    )


def downgrade() -> None:
    op.drop_table("run_outcome", schema="reco")
    op.drop_column("run_customer", "segment", schema="reco")
