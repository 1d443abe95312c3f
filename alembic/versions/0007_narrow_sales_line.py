"""raw.sales_line: a narrower landed row (file number, 16-byte key, load time per batch).

- ``line_key``: ``varchar(64)`` (hex sha256) → ``uuid``, the first 16 bytes of the same
  sha256. Existing keys convert exactly (their first 32 hex digits), so a file landed before
  is still recognised. The unique index on 16 fixed bytes sorts and compares far faster than
  on 64 characters under the database collation.
- ``source_file`` (the path on every row) → ``file_no smallint``: the file's position in its
  batch; ``raw.load_file`` (new) holds each batch's files: path, sha256, bytes.
- ``loaded_at`` per row → ``raw.load_batch.loaded_at`` (new, the batch's transaction time,
  which is what every row of the batch carried).
- ``raw.sales_line_lineage`` (view): every line with ``source_file`` and ``loaded_at``.

See docs/ingestion.md, "Speed".

Revision ID: 0007
Revises: 0006
Create Date: 2026-12-01
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects import postgresql

revision: str = "0007"
down_revision: str | None = "0006"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

VIEW = """
create view raw.sales_line_lineage as
select s.*, f.path as source_file, f.sha256 as source_sha256, b.loaded_at
from raw.sales_line s
left join raw.load_file f on f.batch_id = s.batch_id and f.file_no = s.file_no
left join raw.load_batch b on b.batch_id = s.batch_id
"""

#: The natural key text of a landed line (docs/ingestion.md) without its occurrence.
KEY_TEXT = """concat_ws(chr(31),
    doc_ref,
    coalesce(product_key, 'label:' || btrim(lower(regexp_replace(product_label, '\\s+', ' ', 'g')))),
    customer_code,
    coalesce(to_char(order_ts, 'YYYY-MM-DD"T"HH24:MI:SS'), to_char(order_date, 'YYYY-MM-DD')),
    quantity::text,
    coalesce(unit_price::text, 'amount:' || amount_ht::text))"""


def upgrade() -> None:
    op.add_column(
        "load_batch",
        sa.Column("loaded_at", sa.DateTime(timezone=True), server_default=sa.text("now()"), nullable=True),
        schema="raw",
    )
    op.execute(
        "update raw.load_batch b set loaded_at = coalesce("
        "(select min(s.loaded_at) from raw.sales_line s where s.batch_id = b.batch_id), b.started_at)"
    )
    op.alter_column("load_batch", "loaded_at", nullable=False, schema="raw")
    op.create_table(
        "load_file",
        sa.Column("batch_id", sa.String(length=255), nullable=False),
        sa.Column("file_no", sa.SmallInteger(), nullable=False),
        sa.Column("path", sa.Text(), nullable=False),
        sa.Column("sha256", sa.String(length=64), nullable=True),
        sa.Column("bytes", sa.BigInteger(), nullable=True),
        sa.PrimaryKeyConstraint("batch_id", "file_no", name=op.f("pk_load_file")),
        schema="raw",
    )
    # Every recorded file, numbered in its batch's order; then any file of a landed line that
    # its batch does not record (rows written by hand), numbered after them.
    op.execute(
        "insert into raw.load_file (batch_id, file_no, path, sha256, bytes) "
        "select b.batch_id, f.n, f.value->>'path', f.value->>'sha256', (f.value->>'bytes')::bigint "
        "from raw.load_batch b cross join lateral jsonb_array_elements(b.files) with ordinality f(value, n)"
    )
    op.execute(
        "insert into raw.load_file (batch_id, file_no, path) "
        "select s.batch_id, "
        "  coalesce(m.last, 0) + row_number() over (partition by s.batch_id order by s.source_file), "
        "  s.source_file "
        "from (select distinct batch_id, source_file from raw.sales_line) s "
        "left join (select batch_id, max(file_no) as last from raw.load_file group by 1) m "
        "  using (batch_id) "
        "where not exists (select 1 from raw.load_file f "
        "  where f.batch_id = s.batch_id and f.path = s.source_file)"
    )
    op.add_column("sales_line", sa.Column("file_no", sa.SmallInteger(), nullable=True), schema="raw")
    op.execute(
        "update raw.sales_line s set file_no = f.file_no from "
        "(select batch_id, path, min(file_no) as file_no from raw.load_file group by 1, 2) f "
        "where f.batch_id = s.batch_id and f.path = s.source_file"
    )
    op.alter_column("sales_line", "file_no", nullable=False, schema="raw")
    op.drop_column("sales_line", "source_file", schema="raw")
    op.drop_column("sales_line", "loaded_at", schema="raw")
    op.drop_constraint("uq_sales_line_line_key", "sales_line", schema="raw", type_="unique")
    # sha256 keys keep their first 16 bytes; anything else (hand-written rows) is hashed
    op.alter_column(
        "sales_line",
        "line_key",
        type_=postgresql.UUID(as_uuid=True),
        postgresql_using="case when line_key ~ '^[0-9a-f]{32}' then left(line_key, 32)::uuid "
        "else md5(line_key)::uuid end",
        schema="raw",
    )
    op.create_unique_constraint(op.f("uq_sales_line_line_key"), "sales_line", ["line_key"], schema="raw")
    op.execute(VIEW)


def downgrade() -> None:
    op.execute("drop view raw.sales_line_lineage")
    op.add_column("sales_line", sa.Column("source_file", sa.Text(), nullable=True), schema="raw")
    op.add_column(
        "sales_line",
        sa.Column("loaded_at", sa.DateTime(timezone=True), server_default=sa.text("now()"), nullable=True),
        schema="raw",
    )
    op.execute(
        "update raw.sales_line s "
        "set source_file = coalesce(f.path, ''), loaded_at = coalesce(b.loaded_at, now()) "
        "from raw.sales_line t "
        "left join raw.load_file f on f.batch_id = t.batch_id and f.file_no = t.file_no "
        "left join raw.load_batch b on b.batch_id = t.batch_id "
        "where t.id = s.id"
    )
    op.alter_column("sales_line", "source_file", nullable=False, schema="raw")
    op.alter_column("sales_line", "loaded_at", nullable=False, schema="raw")
    # The full hex sha256 again, recomputed from the landed columns. A key's occurrence is the
    # rank of the line among identical lines in load order (batch, file, row): a file lands
    # occurrence k of a line only if occurrences 1..k-1 are landed (by it or before it).
    op.drop_constraint("uq_sales_line_line_key", "sales_line", schema="raw", type_="unique")
    op.add_column("sales_line", sa.Column("full_key", sa.String(length=64), nullable=True), schema="raw")
    op.execute(
        "update raw.sales_line s set full_key = k.full_key from ("
        f"  select t.id, encode(sha256(convert_to({KEY_TEXT} || chr(31) || "
        f"    row_number() over (partition by {KEY_TEXT} "
        "      order by b.loaded_at nulls first, t.batch_id, t.file_no, t.source_row), 'UTF8')), 'hex') "
        "    as full_key "
        "  from raw.sales_line t left join raw.load_batch b on b.batch_id = t.batch_id"
        ") k where k.id = s.id"
    )
    op.drop_column("sales_line", "line_key", schema="raw")
    op.alter_column("sales_line", "full_key", new_column_name="line_key", nullable=False, schema="raw")
    op.create_unique_constraint(op.f("uq_sales_line_line_key"), "sales_line", ["line_key"], schema="raw")
    op.drop_column("sales_line", "file_no", schema="raw")
    op.drop_table("load_file", schema="raw")
    op.drop_column("load_batch", "loaded_at", schema="raw")
