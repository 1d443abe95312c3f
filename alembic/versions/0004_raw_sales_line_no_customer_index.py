"""raw.sales_line: drop the (customer_code, order_date) index.

raw is a landing zone that dbt reads in full scans; the index only cost load time (a sort of
every batch's rows, or a random insert per row). The primary key and the unique line_key
constraint (the duplicate guard) stay. See docs/ingestion.md, "Speed".

Revision ID: 0004
Revises: 0003
Create Date: 2026-11-25
"""

from collections.abc import Sequence

from alembic import op

revision: str = "0004"
down_revision: str | None = "0003"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.drop_index(op.f("ix_sales_line_customer_code_order_date"), table_name="sales_line", schema="raw")


def downgrade() -> None:
    op.create_index(
        op.f("ix_sales_line_customer_code_order_date"),
        "sales_line",
        ["customer_code", "order_date"],
        unique=False,
        schema="raw",
    )
