"""Raw landing tables, load batches and rejects (schema raw).

Revision ID: 0002
Revises: 0001
Create Date: 2026-11-25
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects import postgresql

revision: str = "0002"
down_revision: str | None = "0001"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table(
        "contact",
        sa.Column("id", sa.BigInteger(), sa.Identity(always=False), nullable=False),
        sa.Column("customer_code", sa.String(length=255), nullable=False),
        sa.Column("contact_date", sa.Date(), nullable=False),
        sa.Column("channel", sa.String(length=50), nullable=True),
        sa.Column("campaign_id", sa.String(length=255), nullable=True),
        sa.Column("status", sa.String(length=50), nullable=True),
        sa.Column("batch_id", sa.String(length=255), nullable=False),
        sa.Column("source_file", sa.Text(), nullable=False),
        sa.Column("source_row", sa.BigInteger(), nullable=False),
        sa.Column("loaded_at", sa.DateTime(timezone=True), server_default=sa.text("now()"), nullable=False),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_contact")),
        schema="raw",
    )
    op.create_index(
        op.f("ix_contact_customer_code_contact_date"),
        "contact",
        ["customer_code", "contact_date"],
        unique=False,
        schema="raw",
    )
    op.create_table(
        "customer",
        sa.Column("id", sa.BigInteger(), sa.Identity(always=False), nullable=False),
        sa.Column("customer_code", sa.String(length=255), nullable=False),
        sa.Column("email", sa.String(length=512), nullable=True),
        sa.Column("first_name", sa.String(length=255), nullable=True),
        sa.Column("last_name", sa.String(length=255), nullable=True),
        sa.Column("country", sa.String(length=255), nullable=True),
        sa.Column("is_contactable", sa.Boolean(), nullable=True),
        sa.Column("is_bounced", sa.Boolean(), nullable=True),
        sa.Column("is_optout", sa.Boolean(), nullable=True),
        sa.Column("signup_date", sa.Date(), nullable=True),
        sa.Column("updated_at", sa.DateTime(), nullable=True),
        sa.Column("batch_id", sa.String(length=255), nullable=False),
        sa.Column("source_file", sa.Text(), nullable=False),
        sa.Column("source_row", sa.BigInteger(), nullable=False),
        sa.Column("loaded_at", sa.DateTime(timezone=True), server_default=sa.text("now()"), nullable=False),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_customer")),
        schema="raw",
    )
    op.create_index(
        op.f("ix_customer_customer_code"), "customer", ["customer_code"], unique=False, schema="raw"
    )
    op.create_table(
        "load_batch",
        sa.Column("batch_id", sa.String(length=255), nullable=False),
        sa.Column("entity", sa.String(length=32), nullable=False),
        sa.Column("status", sa.String(length=16), nullable=False),
        sa.Column("files", postgresql.JSONB(astext_type=sa.Text()), nullable=False),
        sa.Column("rows_read", sa.BigInteger(), nullable=False),
        sa.Column("rows_loaded", sa.BigInteger(), nullable=False),
        sa.Column("rows_rejected", sa.BigInteger(), nullable=False),
        sa.Column("rows_duplicate", sa.BigInteger(), nullable=False),
        sa.Column("options", postgresql.JSONB(astext_type=sa.Text()), nullable=False),
        sa.Column(
            "started_at",
            sa.DateTime(timezone=True),
            server_default=sa.text("now()"),
            nullable=False,
        ),
        sa.Column("finished_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("seconds", sa.Float(), nullable=True),
        sa.Column("error", sa.Text(), nullable=True),
        sa.PrimaryKeyConstraint("batch_id", name=op.f("pk_load_batch")),
        schema="raw",
    )
    op.create_table(
        "product",
        sa.Column("id", sa.BigInteger(), sa.Identity(always=False), nullable=False),
        sa.Column("product_key", sa.String(length=255), nullable=False),
        sa.Column("product_label", sa.String(length=512), nullable=True),
        sa.Column("family_crm", sa.String(length=255), nullable=True),
        sa.Column("cepage", sa.String(length=255), nullable=True),
        sa.Column("sucrosite_niveau", sa.String(length=50), nullable=True),
        sa.Column("price_band", sa.String(length=50), nullable=True),
        sa.Column("premium_tier", sa.Integer(), nullable=True),
        sa.Column("unit_price", sa.Numeric(precision=18, scale=4), nullable=True),
        sa.Column("aroma_fruity", sa.Integer(), nullable=True),
        sa.Column("aroma_floral", sa.Integer(), nullable=True),
        sa.Column("aroma_spicy", sa.Integer(), nullable=True),
        sa.Column("aroma_herbal", sa.Integer(), nullable=True),
        sa.Column("aroma_mineral", sa.Integer(), nullable=True),
        sa.Column("aroma_woody", sa.Integer(), nullable=True),
        sa.Column("aroma_toasty", sa.Integer(), nullable=True),
        sa.Column("is_active", sa.Boolean(), nullable=True),
        sa.Column("season_tags", postgresql.JSONB(astext_type=sa.Text()), nullable=True),
        sa.Column("batch_id", sa.String(length=255), nullable=False),
        sa.Column("source_file", sa.Text(), nullable=False),
        sa.Column("source_row", sa.BigInteger(), nullable=False),
        sa.Column("loaded_at", sa.DateTime(timezone=True), server_default=sa.text("now()"), nullable=False),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_product")),
        schema="raw",
    )
    op.create_index(op.f("ix_product_product_key"), "product", ["product_key"], unique=False, schema="raw")
    op.create_table(
        "product_alias",
        sa.Column("id", sa.BigInteger(), sa.Identity(always=False), nullable=False),
        sa.Column("alias_label", sa.String(length=512), nullable=False),
        sa.Column("product_key", sa.String(length=255), nullable=False),
        sa.Column("batch_id", sa.String(length=255), nullable=False),
        sa.Column("source_file", sa.Text(), nullable=False),
        sa.Column("source_row", sa.BigInteger(), nullable=False),
        sa.Column("loaded_at", sa.DateTime(timezone=True), server_default=sa.text("now()"), nullable=False),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_product_alias")),
        schema="raw",
    )
    op.create_table(
        "reject",
        sa.Column("id", sa.BigInteger(), sa.Identity(always=False), nullable=False),
        sa.Column("batch_id", sa.String(length=255), nullable=False),
        sa.Column("entity", sa.String(length=32), nullable=False),
        sa.Column("source_file", sa.Text(), nullable=False),
        sa.Column("source_row", sa.BigInteger(), nullable=False),
        sa.Column("raw_text", sa.Text(), nullable=False),
        sa.Column("reason_codes", postgresql.JSONB(astext_type=sa.Text()), nullable=False),
        sa.Column("details", sa.Text(), nullable=True),
        sa.Column("loaded_at", sa.DateTime(timezone=True), server_default=sa.text("now()"), nullable=False),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_reject")),
        schema="raw",
    )
    op.create_index(op.f("ix_reject_batch_id"), "reject", ["batch_id"], unique=False, schema="raw")
    op.create_table(
        "sales_line",
        sa.Column("id", sa.BigInteger(), sa.Identity(always=False), nullable=False),
        sa.Column("line_key", sa.String(length=64), nullable=False),
        sa.Column("doc_ref", sa.String(length=255), nullable=False),
        sa.Column("order_date", sa.Date(), nullable=False),
        sa.Column("order_ts", sa.DateTime(), nullable=True),
        sa.Column("customer_code", sa.String(length=255), nullable=False),
        sa.Column("product_key", sa.String(length=255), nullable=True),
        sa.Column("product_label", sa.String(length=512), nullable=True),
        sa.Column("quantity", sa.Numeric(precision=18, scale=4), nullable=False),
        sa.Column("unit_price", sa.Numeric(precision=18, scale=4), nullable=True),
        sa.Column("amount_ht", sa.Numeric(precision=18, scale=4), nullable=False),
        sa.Column("amount_ttc", sa.Numeric(precision=18, scale=4), nullable=True),
        sa.Column("country", sa.String(length=255), nullable=True),
        sa.Column("line_type", sa.String(length=16), nullable=False),
        sa.Column("batch_id", sa.String(length=255), nullable=False),
        sa.Column("source_file", sa.Text(), nullable=False),
        sa.Column("source_row", sa.BigInteger(), nullable=False),
        sa.Column("loaded_at", sa.DateTime(timezone=True), server_default=sa.text("now()"), nullable=False),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_sales_line")),
        sa.UniqueConstraint("line_key", name=op.f("uq_sales_line_line_key")),
        schema="raw",
    )
    op.create_index(
        op.f("ix_sales_line_customer_code_order_date"),
        "sales_line",
        ["customer_code", "order_date"],
        unique=False,
        schema="raw",
    )


def downgrade() -> None:
    op.drop_index(op.f("ix_sales_line_customer_code_order_date"), table_name="sales_line", schema="raw")
    op.drop_table("sales_line", schema="raw")
    op.drop_index(op.f("ix_reject_batch_id"), table_name="reject", schema="raw")
    op.drop_table("reject", schema="raw")
    op.drop_table("product_alias", schema="raw")
    op.drop_index(op.f("ix_product_product_key"), table_name="product", schema="raw")
    op.drop_table("product", schema="raw")
    op.drop_table("load_batch", schema="raw")
    op.drop_index(op.f("ix_customer_customer_code"), table_name="customer", schema="raw")
    op.drop_table("customer", schema="raw")
    op.drop_index(op.f("ix_contact_customer_code_contact_date"), table_name="contact", schema="raw")
    op.drop_table("contact", schema="raw")
