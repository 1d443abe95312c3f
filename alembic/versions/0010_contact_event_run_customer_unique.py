"""A run's customer is recorded once in reco.contact_event: unique (run_id, customer_code).

Rows without a run (run_id null) are not constrained (nulls are distinct).

Revision ID: 0010
Revises: 0009
Create Date: 2026-12-03
"""

from collections.abc import Sequence

from alembic import op

revision: str = "0010"
down_revision: str | None = "0009"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_index(
        "ux_contact_event_run_customer",
        "contact_event",
        ["run_id", "customer_code"],
        unique=True,
        schema="reco",
    )


def downgrade() -> None:
    op.drop_index("ux_contact_event_run_customer", table_name="contact_event", schema="reco")
