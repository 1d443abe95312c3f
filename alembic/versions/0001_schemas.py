"""Create the schemas Alembic owns: raw (landing) and reco (runs and campaign events).

Revision ID: 0001
Revises:
Create Date: 2026-11-25
"""

from collections.abc import Sequence

from alembic import op

revision: str = "0001"
down_revision: str | None = None
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.execute("create schema if not exists raw")
    op.execute("create schema if not exists reco")


def downgrade() -> None:
    op.execute("drop schema if exists reco")
    op.execute("drop schema if exists raw")
