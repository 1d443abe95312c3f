"""Landing typed rows into the raw schema over one psycopg connection and one transaction.

Sales (``SalesLanding``): chunk by chunk, while the next chunk is typed, the lines whose
``line_key`` (hashed client-side) is not landed yet are written once, straight into
``raw.sales_line`` by binary COPY (``pgcopy``: encoded in numpy / Arrow, sent while the server
parses), ids included (blocks reserved from the table's sequence).
Other entities: the batch's rows go to a temporary table by binary COPY, then one
``INSERT … SELECT`` moves them to the raw table (contacts: skipping rows already there).
Nothing is ever inserted row by row.
"""

from __future__ import annotations

import contextlib
import json
import uuid
from contextlib import contextmanager

import polars as pl

from reco.db.engine import psycopg_connect
from reco.db.target import Database
from reco.errors import RecoError
from reco.ingest import pgcopy
from reco.ingest.entities import Entity
from reco.ingest.parse import KEY, KeySet, amount_ht_expr, key_series

FILE = "source_file"
ROW = "source_row"
#: The file's position in its batch (1, 2, …): ``raw.load_file.file_no``.
FILE_NO = "file_no"


@contextmanager
def transaction(db: Database):
    """A psycopg connection whose work is committed on success and rolled back on any error
    (UTF-8 on the wire: the binary COPY sends text as UTF-8)."""
    conn = psycopg_connect(db, client_encoding="utf8")
    try:
        yield conn
        conn.commit()
    except BaseException:
        conn.rollback()
        raise
    finally:
        conn.close()


def _literal(value: str) -> str:
    """A SQL string literal (standard_conforming_strings: only quotes need doubling)."""
    if "\x00" in value:
        raise RecoError("a file name or batch id cannot contain NUL characters")
    return "'" + value.replace("'", "''") + "'"


def _q(name: str) -> str:
    return '"' + name.replace('"', '""') + '"'


def fetch(cur, sql: str, params: tuple = ()) -> list[tuple]:
    cur.execute(sql, params or None)
    return cur.fetchall()


def lock_entity(cur, entity: Entity) -> None:
    """Loads of one entity run one at a time (the duplicate checks need a stable table)."""
    cur.execute(f"select pg_advisory_xact_lock(hashtext('reco.load.{entity.name}'))")
    cur.fetchall()


def check_batch_id(cur, batch_id: str) -> None:
    rows = fetch(cur, "select status, started_at from raw.load_batch where batch_id = %s", (batch_id,))
    if rows and rows[0][0] != "failed":
        raise RecoError(
            f"batch id {batch_id!r} is already used (status {rows[0][0]}, {rows[0][1]:%Y-%m-%d %H:%M})"
        )
    if rows:  # a failed batch may be retried under its id
        cur.execute("delete from raw.load_batch where batch_id = %s", (batch_id,))


def loaded_files(cur, entity: Entity) -> dict[str, tuple[str, int]]:
    """sha256 -> (batch id, rows read) of the files already landed for this entity."""
    rows = fetch(
        cur,
        "select f->>'sha256', b.batch_id, coalesce((f->>'rows_read')::bigint, 0) "
        "from raw.load_batch b cross join lateral jsonb_array_elements(b.files) f "
        "where b.entity = %s and b.status in ('succeeded', 'duplicate') "
        "and f->>'already_loaded_in' is null "
        "order by b.started_at",
        (entity.name,),
    )
    out: dict[str, tuple[str, int]] = {}
    for sha, batch, n in rows:
        out.setdefault(sha, (batch, n))
    return out


def _ingest_temp(cur, frame: pl.DataFrame) -> str:
    name = f"reco_load_{uuid.uuid4().hex[:12]}"
    pgcopy.create_temp(cur, name, frame)
    return name


#: Below this many rows a batch always goes through the indexes.
BULK_MIN_ROWS = 50_000
#: maintenance_work_mem for rebuilding the indexes of a big batch (this transaction only).
REBUILD_MEMORY = "256MB"


def _select_list(entity: Entity, present: set[str], paths: list[str]) -> tuple[list[str], list[str]]:
    """Target columns and the expressions that fill them from the temporary table, which holds
    only the columns with a value somewhere in the batch, and a file number instead of the
    file's path on every row. (Tags arrive as ``jsonb`` already.)"""
    targets, exprs = [], []
    for name in entity.columns:
        targets.append(name)
        exprs.append(f"t.{_q(name)}" if name in present else "null")
    files = ", ".join(_literal(p) for p in paths)
    targets += ["batch_id", FILE, ROW]
    exprs += [":batch_id", f"(array[{files}]::text[])[t.{FILE_NO}]", f"t.{ROW}"]
    return targets, exprs


def _secondary_indexes(cur, entity: Entity, primary_key: bool = False) -> list[tuple[str, str]]:
    """(drop, create) statements of the table's indexes and unique constraints, exactly as
    Alembic made them; the primary key too when asked."""
    table = entity.qualified_table
    kinds = "('u', 'p')" if primary_key else "('u')"
    constraints = fetch(
        cur,
        "select conname, pg_get_constraintdef(oid) from pg_constraint "
        f"where conrelid = %s::regclass and contype in {kinds} order by contype",
        (table,),
    )
    indexes = fetch(
        cur,
        "select i.relname, pg_get_indexdef(i.oid) "
        "from pg_index x join pg_class i on i.oid = x.indexrelid "
        "where x.indrelid = %s::regclass and not x.indisprimary "
        "and not exists (select 1 from pg_constraint c where c.conindid = x.indexrelid)",
        (table,),
    )
    out = [
        (
            f"alter table {table} drop constraint {_q(n)}",
            f"alter table {table} add constraint {_q(n)} {d}",
        )
        for n, d in constraints
    ]
    out += [(f"drop index {entity.table.schema}.{_q(n)}", d) for n, d in indexes]
    return out


def _bulk(cur, entity: Entity, rows: int) -> bool:
    """A batch of at least a quarter of the table lands faster with its indexes rebuilt
    afterwards (one sort per index) than maintained row by row (a random b-tree insert per row
    and index). Takes the table's exclusive lock: readers wait for the commit."""
    if rows < BULK_MIN_ROWS:
        return False
    estimate = fetch(
        cur,
        "select greatest(reltuples, 0)::bigint from pg_class where oid = %s::regclass",
        (entity.qualified_table,),
    )[0][0]
    return rows * 4 >= estimate


def insert_rows(
    cur, entity: Entity, batch_id: str, frame: pl.DataFrame, paths_by_no: dict[int, str]
) -> dict[int, int]:
    """Land the batch's rows of an entity other than sales (see ``SalesLanding``) through a
    temporary table; return rows actually inserted per file number (the others were already
    there: duplicates of an earlier batch, found by the whole row for contacts). These tables
    keep the file's path on every row (``paths_by_no``: file number → path)."""
    if frame.height == 0:
        return {}
    numbers = sorted(set(frame.get_column(FILE_NO).unique().to_list()))
    paths = [paths_by_no.get(n, "") for n in range(1, max(numbers) + 1)]
    present = {c for c in entity.columns if frame.get_column(c).null_count() < frame.height}
    staged = frame.select(*[c for c in entity.columns if c in present], FILE_NO, ROW)
    temp = _ingest_temp(cur, staged)
    targets, exprs = _select_list(entity, present, paths)
    source = f"pg_temp.{temp} t"
    where = ""
    if entity.dedup == "row":
        # required columns are never null: plain equality keeps the anti-join indexable
        same = " and ".join(
            f"r.{_q(c)} = {e}" if c in entity.required else f"r.{_q(c)} is not distinct from {e}"
            for c, e in zip(targets, exprs, strict=False)
            if c in entity.columns
        )
        where = f"where not exists (select 1 from {entity.qualified_table} r where {same})"
    rebuild = _secondary_indexes(cur, entity) if _bulk(cur, entity, frame.height) else []
    for drop, _ in rebuild:
        cur.execute(drop)
    sql = (
        f"insert into {entity.qualified_table} ({', '.join(map(_q, targets))}) "
        f"select {', '.join(exprs)} from {source} {where} "
    ).replace(":batch_id", _literal(batch_id))
    if len(numbers) == 1:
        # The row count says how many rows were new (bound parameters would hide it, hence
        # the quoted literals); no RETURNING set to materialise.
        cur.execute(sql)
        counts = {numbers[0]: cur.rowcount}
    else:
        by_path = fetch(
            cur,
            f"with ins as ({sql} returning {FILE}) select {FILE}, count(*) from ins group by 1",
        )
        # the files of one batch that are read have distinct paths (the same path twice is the
        # same file: already loaded in this batch)
        no_of = {paths_by_no[n]: n for n in numbers}
        counts = {no_of[path]: n for path, n in by_path}
    for _, create in rebuild:
        cur.execute(create)
    if rebuild:  # fresh statistics for the planner (and for the next batch's estimate)
        cur.execute(f"analyze {entity.qualified_table}")
    cur.execute(f"drop table pg_temp.{temp}")
    return counts


def landed_keys(cur, entity: Entity, low, high) -> KeySet:
    """The line keys (16 bytes) already landed with an order date in [low, high] (a line's
    key includes its date, so no other landed line can share a key with lines of these dates).
    The server concatenates them, in ``bytea`` values of at most 4 Mi keys (64 MB, far below
    the 1 GB limit of a value), fetched in binary and cut into 16-byte keys without a copy."""
    cur.execute(
        f"select string_agg(uuid_send(line_key), ''::bytea) from {entity.qualified_table} "
        "where order_date between %s and %s group by id >> 22",
        (low, high),
        binary=True,
    )
    keys = KeySet()
    keys.add(key_series(b"".join(blob for (blob,) in cur.fetchall())))
    return keys


class SalesLanding:
    """The connection's side of a streaming sales load: lines arrive chunk by chunk, already
    typed, keyed and free of duplicates within the batch, and go straight into
    ``raw.sales_line`` by one binary COPY (``pgcopy``), in the batch's transaction, their ids
    taken from blocks reserved in the table's identity sequence.

    Before each file's first chunk, ``start_file`` (the COPY paused) reserves ids for its rows
    and returns the keys already landed on its order dates, which the producer removes from
    its chunks (an anti-join, skipped when the table had no line at the start of the batch).
    Everything runs under the entity's advisory lock (``lock_entity``), so no concurrent load
    can land the same key in between; the unique constraint on ``line_key`` stays as the
    guard, and the primary key guards the ids."""

    def __init__(self, cur, entity: Entity, batch_id: str) -> None:
        self.cur, self.entity, self.batch_id = cur, entity, batch_id
        table = entity.qualified_table
        #: the table held lines when the batch began (else no landed key can match)
        self.had_lines = bool(fetch(cur, f"select exists (select 1 from {table})")[0][0])
        self._sequence = fetch(cur, f"select pg_get_serial_sequence({_literal(table)}, 'id')")[0][0]
        self._rebuild: list[tuple[str, str]] | None = None
        self._copy: pgcopy.CopyWriter | None = None
        self._next_id = self._last_id = 0  # ids reserved: [_next_id, _last_id]
        #: lines written per file number
        self.inserted: dict[int, int] = {}

    def start_file(self, rows: int, dates: tuple | None, batch_rows: int) -> KeySet | None:
        """Before a file's lines: reserve ids for its ``rows`` (read rows: at least the lines
        it will write), and return the keys landed on its order dates (``dates``: lowest,
        highest; None when the table had no lines). At the batch's first file, a big batch
        (``batch_rows``, an estimate) drops the table's indexes, rebuilt by ``finish``."""
        self.end_copy()
        if self._rebuild is None:
            # A big batch lands without indexes, then the primary key and the unique line_key
            # are rebuilt (one sort each) in the same transaction: the guard holds at commit.
            big = _bulk(self.cur, self.entity, batch_rows)
            self._rebuild = _secondary_indexes(self.cur, self.entity, primary_key=True) if big else []
            for drop, _ in self._rebuild:
                self.cur.execute(drop)
        self._reserve(rows)
        if dates is None or dates[0] is None:
            return None
        return landed_keys(self.cur, self.entity, *dates)

    def _reserve(self, rows: int) -> None:
        """Ids up to ``_next_id + rows - 1``: one ``nextval`` for the batch's first block, then
        ``setval`` (instead of a ``nextval`` per row during the COPY). A concurrent writer that
        is not ``reco load`` taking an id in between would make the primary key refuse the
        batch, never land a row twice."""
        if rows <= 0:
            return
        if not self._next_id:
            self._next_id = self._last_id = int(
                fetch(self.cur, "select nextval(%s)", (self._sequence,))[0][0]
            )
        last = self._next_id + rows - 1
        if last > self._last_id:
            fetch(self.cur, "select setval(%s::regclass, %s)", (self._sequence, last))
            self._last_id = last

    def write(self, lines: pl.DataFrame) -> None:
        """COPY a chunk of new lines (canonical columns, FILE_NO, ROW, KEY)."""
        if lines.height == 0:
            return
        new = self.number(lines)
        if self._copy is None:
            self._copy = pgcopy.CopyWriter(self.cur, self.entity.qualified_table, new.columns).__enter__()
        self._copy.write(new)

    def number(self, lines: pl.DataFrame) -> pl.DataFrame:
        """A chunk of new lines as landed rows (ids from the reserved block, lineage, key),
        counted in ``inserted``."""
        first = self._next_id
        if first + lines.height - 1 > self._last_id:
            raise AssertionError("more lines than the ids reserved for their file")
        new = lines.select(
            pl.int_range(first, first + pl.len(), dtype=pl.Int64).alias("id"),
            *[amount_ht_expr() if c == "amount_ht" else pl.col(c) for c in self.entity.columns],
            batch_id=pl.lit(self.batch_id, dtype=pl.String),
            file_no=pl.col(FILE_NO),
            source_row=pl.col(ROW),
            line_key=pl.col(KEY),
        )
        self._next_id += lines.height
        for no, n in new.group_by(FILE_NO).len().iter_rows():
            self.inserted[no] = self.inserted.get(no, 0) + n
        return new

    def end_copy(self) -> None:
        """End the COPY of the chunks written so far (the connection is free for queries)."""
        if self._copy is not None:
            copy, self._copy = self._copy, None
            copy.__exit__(None, None, None)

    def abort(self, exc: BaseException) -> None:
        """End an open COPY as failed (the transaction is rolled back after)."""
        if self._copy is not None:
            copy, self._copy = self._copy, None
            with contextlib.suppress(Exception):
                copy.__exit__(type(exc), exc, exc.__traceback__)

    def finish(self) -> None:
        """End the COPY, hand the ids reserved but not used back to the sequence (unless
        another writer took one since), rebuild the indexes of a big batch."""
        self.end_copy()
        if self._next_id and self._next_id <= self._last_id:
            seq = self._sequence  # as pg_get_serial_sequence returns it: quoted as needed
            fetch(
                self.cur,
                f"select setval(%s::regclass, %s, false) from {seq} where last_value = %s",
                (seq, self._next_id, self._last_id),
            )
        if self._rebuild:  # sort the index keys in memory
            self.cur.execute(f"set local maintenance_work_mem = '{REBUILD_MEMORY}'")
        for _, create in self._rebuild or []:
            self.cur.execute(create)
        # No ANALYZE (≈ 0.3 s per million lines): building the indexes already records the
        # table's row count, which is all the next batch's ``_bulk`` estimate reads; dbt scans
        # raw in full, and autovacuum analyses the table after such a batch anyway.


def record_files(cur, batch_id: str, files: list) -> None:
    """``raw.load_file``: the batch's files, numbered in the order given (FileReport list)."""
    if not files:
        return
    values = ", ".join(
        f"({_literal(batch_id)}, {no}, {_literal(f.path)}, {_literal(f.sha256)}, {int(f.bytes)})"
        for no, f in enumerate(files, 1)
    )
    cur.execute(f"insert into raw.load_file (batch_id, file_no, path, sha256, bytes) values {values}")


def insert_rejects(cur, entity: Entity, batch_id: str, rejects: pl.DataFrame) -> None:
    if rejects.height == 0:
        return
    temp = _ingest_temp(cur, rejects.select(FILE, ROW, "raw_text", "reason_codes", "details"))
    cur.execute(
        "insert into raw.reject "
        "(batch_id, entity, source_file, source_row, raw_text, reason_codes, details) "
        f"select %s, %s, {FILE}, {ROW}, raw_text, reason_codes, details "
        f"from pg_temp.{temp} "
        f"order by {FILE}, {ROW}",
        (batch_id, entity.name),
    )
    cur.execute(f"drop table pg_temp.{temp}")


def record_batch(
    cur,
    *,
    batch_id: str,
    entity: Entity,
    status: str,
    files: list[dict],
    totals: dict,
    options: dict,
    seconds: float,
    error: str | None,
) -> None:
    cur.execute(
        "insert into raw.load_batch (batch_id, entity, status, files, "
        "rows_read, rows_loaded, rows_rejected, "
        "rows_duplicate, options, started_at, finished_at, seconds, error) "
        "values (%(batch)s, %(entity)s, %(status)s, %(files)s::jsonb, %(read)s, %(loaded)s, "
        "%(rejected)s, %(duplicates)s, %(options)s::jsonb, "
        "clock_timestamp() - make_interval(secs => %(seconds)s), clock_timestamp(), %(seconds)s, %(error)s)",
        {
            "batch": batch_id,
            "entity": entity.name,
            "status": status,
            "files": json.dumps(files),
            "read": totals["rows_read"],
            "loaded": totals["loaded"],
            "rejected": totals["rejected"],
            "duplicates": totals["duplicates"],
            "options": json.dumps(options),
            "seconds": seconds,
            "error": error,
        },
    )
