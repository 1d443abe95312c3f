"""The warehouse builds (reco.warehouse_build): the path each successful ``reco dbt build``
took and the fingerprint of its inputs, which the next build compares to decide whether it may
be incremental.

Revision ID: 0012
Revises: 0011
Create Date: 2026-12-07
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects import postgresql

revision: str = "0012"
down_revision: str | None = "0011"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table(
        "warehouse_build",
        sa.Column("id", sa.BigInteger(), sa.Identity(always=False), nullable=False),
        sa.Column("schema_prefix", sa.String(length=255), nullable=False),
        sa.Column("path", sa.String(length=16), nullable=False),
        sa.Column("reason", sa.Text(), nullable=False),
        sa.Column("state", postgresql.JSONB(astext_type=sa.Text()), nullable=False),
        sa.Column("seconds", sa.Float(), nullable=False),
        sa.Column("finished_at", sa.DateTime(timezone=True), server_default=sa.text("now()"), nullable=False),
        sa.CheckConstraint("path in ('full', 'incremental')", name=op.f("ck_warehouse_build_path")),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_warehouse_build")),
        schema="reco",
    )
    op.create_index("ix_warehouse_build_prefix", "warehouse_build", ["schema_prefix", "id"], schema="reco")


def downgrade() -> None:
    op.drop_index("ix_warehouse_build_prefix", table_name="warehouse_build", schema="reco")
    op.drop_table("warehouse_build", schema="reco")
