"""What the latest export of a run did with each treated customer: run_customer.export_status.

Revision ID: 0009
Revises: 0008
Create Date: 2026-12-03
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0009"
down_revision: str | None = "0008"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.add_column(
        "run_customer", sa.Column("export_status", sa.String(length=16), nullable=True), schema="reco"
    )
    op.create_check_constraint(
        op.f("ck_run_customer_export_status"),
        "run_customer",
        "export_status in ('exported', 'suppressed')",
        schema="reco",
    )


def downgrade() -> None:
    op.drop_constraint(op.f("ck_run_customer_export_status"), "run_customer", schema="reco", type_="check")
    op.drop_column("run_customer", "export_status", schema="reco")
