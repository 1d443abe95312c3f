"""The control group of a run: reco.run_customer (run, customer, scenario, group).

Revision ID: 0008
Revises: 0007
Create Date: 2026-12-03
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0008"
down_revision: str | None = "0007"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table(
        "run_customer",
        sa.Column("run_id", sa.String(length=255), nullable=False),
        sa.Column("customer_code", sa.String(length=255), nullable=False),
        sa.Column("scenario", sa.String(length=50), nullable=False),
        sa.Column("grp", sa.String(length=16), nullable=False),
        sa.CheckConstraint("grp in ('treatment', 'control')", name=op.f("ck_run_customer_grp")),
        sa.CheckConstraint(
            "scenario in ('REBUY', 'CROSS_SELL', 'UPSELL', 'WINBACK', 'NURTURE')",
            name=op.f("ck_run_customer_scenario"),
        ),
        sa.PrimaryKeyConstraint("run_id", "customer_code", name=op.f("pk_run_customer")),
        schema="reco",
    )


def downgrade() -> None:
    op.drop_table("run_customer", schema="reco")
