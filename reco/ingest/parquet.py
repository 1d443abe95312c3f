"""Raw landing as Parquet, for a warehouse on Spark (``reco load … --parquet ROOT``).

Layout: ``ROOT/<raw table>/<batch id>.parquet``, one file per batch and table, with the
columns and types of the Alembic table (``reco/db/models/raw.py``; :func:`polars_schema`), so
dbt's sources on Spark read one folder per raw table, any number of files in it.

- ``raw.sales_line`` lands in Parquet **only** (the big table: 10¹⁰ lines do not belong in the
  operational PostgreSQL), chunk by chunk as the streaming load types it (``SalesLanding``, one
  row group per chunk). Its duplicate guard is the one PostgreSQL applies: the natural
  ``line_key``, read back from the folder's files on the new file's order dates.
- Every other table (customers, products, aliases, contacts, and the batch's ``load_batch``,
  ``load_file`` and ``reject`` rows) lands in PostgreSQL exactly as without ``--parquet``, and
  the rows it landed are read back in the same transaction and written as Parquet too: consent
  (``raw.customer``, ``raw.contact``) stays durable and checkable where the scorer reads it.

A batch's files are written under hidden temporary names (``.<batch id>.parquet.tmp``: Spark
skips names starting with ``.``, and readers glob ``*.parquet``), fsynced, and renamed to their
final names (then the folder fsynced) only **after** the batch's PostgreSQL transaction has
committed: a file Spark can see belongs to a committed batch. A crash between the commit and the
rename leaves temporary files that the next load into the same root resolves first
(:func:`recover`): renamed when ``raw.load_batch`` says the batch succeeded, deleted otherwise.
Loads into one root take an advisory lock on it, so one load never resolves another's files.

Every raw table is readable on Spark from the first load into a root: a raw table's folder that
holds no Parquet file yet (``reject`` before the first reject, ``sales_line`` before the first
sales batch …) gets a zero-row file carrying the table's schema, ``EMPTY`` (written like any
other: temporary name, fsync, rename), so an empty table is an empty Spark table; it is removed
once a batch's file is published beside it. A root that
``reco load --parquet`` never wrote still has no folders, and Spark's run fails naming the path.

The platform's own tables the dbt project reads (``reco.reco_run``, ``reco.reco_item`` …:
``RECO_SOURCES``) are written by :func:`export_sources` (``reco export-sources ROOT``) as
``ROOT/reco/<table>/part-0.parquet``, each replaced whole and atomically, with the same types as
the raw landing (:func:`polars_schema`). :func:`export_landed` writes the raw tables of a
database whose batches landed in PostgreSQL in the landing's own layout (one file per batch).

``ROOT`` may be an object-store URI (``s3://bucket/prefix``; ``reco.lake``): then
:class:`ObjectStoreLanding` lands the batch by the same rules with what an object store has
instead of fsync and rename (a single object's PUT is atomic; a "rename" is a copy, then a
delete): the files are staged under the same hidden names and uploaded before the commit,
copied to their final names after it, the staged objects deleted last, so that a crash at any
point leaves a staged object the next load resolves by the batch's status (see
:class:`ObjectStoreLanding` and docs/ingestion.md, "Parquet landing on an object store").
"""

from __future__ import annotations

import contextlib
import os
import re
from contextlib import contextmanager
from pathlib import Path

import polars as pl
import pyarrow.parquet as pq
from sqlalchemy import BigInteger, Boolean, Date, DateTime, Float, Integer, Numeric, SmallInteger, Table
from sqlalchemy.dialects.postgresql import UUID
from sqlalchemy.types import JSON

from reco import lake
from reco.db import migrate
from reco.db.engine import adbc_connect
from reco.db.models import raw, reco
from reco.db.models.base import RAW_SCHEMA
from reco.db.models.raw import LoadBatch, LoadFile, Reject
from reco.db.target import Database
from reco.errors import RecoError
from reco.ingest import land
from reco.ingest.entities import Entity
from reco.ingest.parse import KEY, KeySet

SUFFIX = ".parquet"
TEMP_SUFFIX = ".parquet.tmp"
_SAFE_ID = re.compile(r"[A-Za-z0-9][A-Za-z0-9._-]*")
#: The batch's own rows of these tables are written with every batch (lineage and accounting).
BATCH_TABLES = (LoadBatch.__table__, LoadFile.__table__, Reject.__table__)
#: Every raw table (the dbt sources of the schema raw but the view ``sales_line_lineage``).
RAW_TABLES: tuple[Table, ...] = tuple(t for t in raw.Base.metadata.sorted_tables if t.schema == RAW_SCHEMA)
#: The platform's tables the dbt project reads (its sources of the schema reco), written by
#: :func:`export_sources` under ``ROOT/RECO_FOLDER/<table>/`` (the macro register_parquet_sources'
#: default ``reco_parquet_path``).
RECO_SOURCES: tuple[Table, ...] = tuple(
    m.__table__
    for m in (
        reco.RecoRun,
        reco.RecoItem,
        reco.AuditItem,
        reco.ContactEvent,
        reco.RunCustomer,
        reco.RunOutcome,
        reco.OutcomeEvent,
    )
)
RECO_FOLDER = "reco"
#: The zero-row file that makes an empty raw table's folder readable (see the module).
EMPTY = "empty" + SUFFIX
#: The single file of each exported reco table.
PART = "part-0" + SUFFIX
#: A fault-injection hook for the tests (tests/ingest/test_objstore.py): set to one of
#: ``CRASH_POINTS``, the load ends at once (``os._exit(CRASH_EXIT)``, no cleanup, as a kill -9
#: would) at that point of the publication, after the batch's commit. Unset in production.
CRASH_ENV = "RECO_TEST_CRASH_AT"
#: ``publish``: committed, nothing published; ``published-one``: the first file copied to its
#: final name, its staged object not yet deleted (an object store's half-done "rename").
CRASH_POINTS = ("publish", "published-one")
CRASH_EXIT = 137


def crash_point(name: str) -> None:
    """End the process here if ``CRASH_ENV`` names this point (see ``CRASH_ENV``)."""
    if os.environ.get(CRASH_ENV) == name:
        os._exit(CRASH_EXIT)


def polars_schema(table: Table) -> dict[str, pl.DataType]:
    """The Parquet columns of a raw or reco table: its Alembic columns, in order, with these
    types. ``uuid`` (``line_key``), ``json`` and ``jsonb`` are written as text (Spark has none of
    these types; the text is PostgreSQL's own ``::text`` of the value); ``numeric(p, s)`` as a
    decimal of the same precision and scale."""
    out: dict[str, pl.DataType] = {}
    for col in table.columns:
        t = col.type
        if isinstance(t, UUID | JSON):
            out[col.name] = pl.String()
        elif isinstance(t, BigInteger):
            out[col.name] = pl.Int64()
        elif isinstance(t, SmallInteger):
            out[col.name] = pl.Int16()
        elif isinstance(t, Integer):
            out[col.name] = pl.Int32()
        elif isinstance(t, Float):
            out[col.name] = pl.Float64()
        elif isinstance(t, Numeric):
            out[col.name] = pl.Decimal(t.precision, t.scale)
        elif isinstance(t, Boolean):
            out[col.name] = pl.Boolean()
        elif isinstance(t, DateTime):
            out[col.name] = pl.Datetime("us", "UTC" if t.timezone else None)
        elif isinstance(t, Date):
            out[col.name] = pl.Date()
        else:
            out[col.name] = pl.String()
    return out


def _text_columns(table: Table, as_text: tuple[type, ...] = (UUID, JSON)) -> str:
    """The select list of ``table`` as :func:`polars_schema` reads it from PostgreSQL: uuid,
    json and jsonb (and any other ``as_text`` type; never a float) as PostgreSQL's own text of
    the value."""
    return ", ".join(
        f'"{c.name}"::text as "{c.name}"'
        if isinstance(c.type, as_text) and not isinstance(c.type, Float)
        else f'"{c.name}"'
        for c in table.columns
    )


def write_atomically(frame: pl.DataFrame, path: Path) -> Path:
    """Write ``frame`` to ``path`` so that a reader sees the previous file or the new one,
    never a part: a hidden temporary name beside it, fsynced, renamed, the folder fsynced."""
    path.parent.mkdir(parents=True, exist_ok=True)
    temp = path.with_name(f".{path.name}.new")
    frame.write_parquet(temp, compression="zstd")
    _fsync(temp)
    os.replace(temp, path)
    _fsync(path.parent)
    return path


def ensure_tables(root: str | Path) -> list[Path]:
    """Give every raw table's folder under ``root`` that holds no Parquet file the zero-row
    ``EMPTY`` file of its schema (an empty table reads as an empty table on Spark). Returns
    the files written."""
    written = []
    for table in RAW_TABLES:
        folder = Path(root) / table.name
        if not any(folder.glob(f"*{SUFFIX}")):
            written.append(write_atomically(pl.DataFrame(schema=polars_schema(table)), folder / EMPTY))
    return written


def export_sources(
    db: Database, root: str | Path, tables: tuple[Table, ...] = RECO_SOURCES
) -> dict[str, int]:
    """Write the platform's tables the dbt project reads (``RECO_SOURCES``) as Spark's sources
    read them: ``root/reco/<table>/part-0.parquet``, the table's columns typed by
    :func:`polars_schema`, each file replaced atomically (:func:`write_atomically`) by a copy
    read in one snapshot. Returns the rows written, by ``schema.table``. On an object store
    (``root`` a URI) each file is one PUT, which a reader sees whole or not at all."""
    store = lake.Store(root) if lake.is_uri(root) else None
    root = Path(root) if store is None else root
    if store is None and root.exists() and not root.is_dir():
        raise RecoError(f"{root}: not a directory")
    migrate.require_current(db)
    frames: dict[Table, pl.DataFrame] = {}
    with adbc_connect(db) as conn, conn.cursor() as cur:
        cur.execute("set transaction isolation level repeatable read, read only")
        for table in tables:
            # numeric as its exact text too (ADBC hands it over as an opaque extension type)
            cur.execute(
                f"select {_text_columns(table, (UUID, JSON, Numeric))} from {table.schema}.{table.name}"
            )
            frame = pl.from_arrow(cur.fetch_arrow_table())
            frames[table] = frame.select(
                pl.col(name).cast(dtype) for name, dtype in polars_schema(table).items()
            )
    written = {}
    for table, frame in frames.items():
        if store is not None:
            store.put_parquet(frame, *([RECO_FOLDER] if table.schema != RAW_SCHEMA else []), table.name, PART)
        else:
            folder = root / (RECO_FOLDER if table.schema != RAW_SCHEMA else "") / table.name
            write_atomically(frame, folder / PART)
        written[f"{table.schema}.{table.name}"] = frame.height
    return written


def export_landed(db: Database, root: str | Path, tables: tuple[Table, ...] = RAW_TABLES) -> dict[str, int]:
    """Write the raw tables as they landed in PostgreSQL in the layout ``reco load --parquet
    ROOT`` gives them: ``root/<table>/<batch id>.parquet``, one file per batch and table, the
    table's columns typed by :func:`polars_schema`, all tables read in one snapshot. For a
    deployment whose batches landed in PostgreSQL and that moves its warehouse to Spark (its
    history as the Spark sources read it; later batches with ``--parquet``), and for
    bench/engines.py.

    Each batch's rows are streamed from the server (one row group per chunk it sends), so a
    batch of 10⁷ lines never sits in memory whole, into a hidden file renamed only once
    complete and fsynced (a file under its final name is always whole; a crash leaves only
    hidden ``.<batch id>.parquet.new`` files, which no reader and no load's :func:`recover`
    takes). A batch's file already in ``root`` is replaced (the same batch: the same rows);
    a raw table with no rows gets ``EMPTY`` (:func:`ensure_tables`). A batch id that cannot
    name a file is refused before anything is written. Returns the rows written, by
    ``schema.table``."""
    root = Path(root)
    if root.exists() and not root.is_dir():
        raise RecoError(f"{root}: not a directory")
    migrate.require_current(db)
    written: dict[str, int] = {}
    with adbc_connect(db) as conn, conn.cursor() as cur:
        cur.execute("set transaction isolation level repeatable read, read only")
        batches: dict[Table, list[str]] = {}
        for table in tables:
            cur.execute(f"select distinct batch_id from {table.schema}.{table.name} order by 1")
            batches[table] = [b for (b,) in cur.fetchall()]
            for batch in batches[table]:
                if not _SAFE_ID.fullmatch(batch) or batch.endswith(SUFFIX):
                    raise RecoError(
                        f"{table.schema}.{table.name}: batch id {batch!r} cannot name a Parquet file"
                        " (letters, digits, '.', '_' and '-' only)"
                    )
        for table, ids in batches.items():
            schema = polars_schema(table)
            columns = _text_columns(table, (UUID, JSON, Numeric))
            folder = root / table.name
            folder.mkdir(parents=True, exist_ok=True)
            written[f"{table.schema}.{table.name}"] = 0
            for batch in ids:
                # the id is checked above (_SAFE_ID: no quote can reach the literal)
                cur.execute(f"select {columns} from {table.schema}.{table.name} where batch_id = '{batch}'")
                temp = folder / f".{batch}{SUFFIX}.new"
                writer = None
                try:
                    for chunk in cur.fetch_record_batch():
                        frame = pl.from_arrow(chunk).select(
                            pl.col(name).cast(dtype) for name, dtype in schema.items()
                        )
                        if frame.height == 0:
                            continue
                        arrow = frame.to_arrow()
                        if writer is None:
                            writer = pq.ParquetWriter(temp, arrow.schema, compression="zstd")
                        writer.write_table(arrow)
                        written[f"{table.schema}.{table.name}"] += frame.height
                finally:
                    if writer is not None:
                        writer.close()
                if writer is None:  # the batch's rows went between the two reads: none here
                    continue
                _fsync(temp)
                os.replace(temp, folder / f"{batch}{SUFFIX}")
                (folder / EMPTY).unlink(missing_ok=True)
                _fsync(folder)
    ensure_tables(root)
    return written


def _fsync(path: Path) -> None:
    fd = os.open(path, os.O_RDONLY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


def _batch_of(temp: Path) -> str:
    """The batch id in a temporary file's name (``.<batch id>.parquet.tmp``)."""
    return temp.name[1 : -len(TEMP_SUFFIX)]


def _final(temp: Path) -> Path:
    return temp.with_name(_batch_of(temp) + SUFFIX)


def _publish(temp: Path) -> None:
    """Rename a sealed temporary file to its final name, durably (the folder fsynced); the
    folder's zero-row ``EMPTY`` file, no longer needed, goes after it."""
    with contextlib.suppress(FileNotFoundError):  # another load's recover() published it
        os.replace(temp, _final(temp))
    if _final(temp).name != EMPTY:
        (temp.parent / EMPTY).unlink(missing_ok=True)
    _fsync(temp.parent)


def _committed(cur, batches: list[str]) -> set[str]:
    """Those of ``batches`` whose load committed (``raw.load_batch``: succeeded or duplicate):
    their staged files are published by a recovery, the others' deleted."""
    return {
        b
        for (b,) in land.fetch(
            cur,
            "select batch_id from raw.load_batch"
            " where batch_id = any(%s) and status in ('succeeded', 'duplicate')",
            (batches,),
        )
    }


def recover(cur, root: Path) -> dict[str, list[str]]:
    """Resolve the temporary files a crashed load left under ``root``: publish those of a batch
    that committed, delete the others. Returns {"published": […], "deleted": […]} (paths)."""
    done: dict[str, list[str]] = {"published": [], "deleted": []}
    temps = sorted(root.glob(f"*/.*{TEMP_SUFFIX}"))
    if not temps:
        return done
    batches = sorted({_batch_of(t) for t in temps})
    committed = _committed(cur, batches)
    for temp in temps:
        if _batch_of(temp) in committed:
            _publish(temp)
            done["published"].append(str(temp))
        else:
            temp.unlink(missing_ok=True)
            _fsync(temp.parent)
            done["deleted"].append(str(temp))
    return done


def _check_batch_id(batch_id: str) -> None:
    if not _SAFE_ID.fullmatch(batch_id) or batch_id.endswith(".parquet"):
        raise RecoError(
            f"batch id {batch_id!r} cannot name a Parquet file: with --parquet use letters,"
            " digits, '.', '_' and '-' only"
        )


class ParquetLanding:
    """The Parquet files of one batch under ``root``: appended to while the batch lands,
    sealed (fsynced) before its transaction commits, published after (see the module)."""

    def __init__(self, root: str | Path, batch_id: str) -> None:
        _check_batch_id(batch_id)
        self.root, self.batch_id = Path(root), batch_id
        if self.root.exists() and not self.root.is_dir():
            raise RecoError(f"--parquet {self.root}: not a directory")
        self._writers: dict[str, tuple[pq.ParquetWriter, Path]] = {}
        self._sealed: list[Path] = []

    def folder(self, table: Table) -> Path:
        return self.root / table.name

    def open(self, cur) -> None:
        """Under the batch's transaction: lock the root for this load, resolve what a crashed
        load left (:func:`recover`)."""
        cur.execute("select pg_advisory_xact_lock(hashtext(%s))", (f"reco.parquet.{self.root.resolve()}",))
        cur.fetchall()
        self.root.mkdir(parents=True, exist_ok=True)
        recover(cur, self.root)
        ensure_tables(self.root)

    # -- writing ---------------------------------------------------------------------------------
    def append(self, table: Table, frame: pl.DataFrame) -> None:
        """Append rows (the table's columns; cast to :func:`polars_schema`) to the batch's file
        of ``table``: one row group per call."""
        if frame.height == 0:
            return
        schema = polars_schema(table)
        arrow = frame.select(pl.col(name).cast(dtype) for name, dtype in schema.items()).to_arrow()
        if table.name not in self._writers:
            folder = self.folder(table)
            folder.mkdir(parents=True, exist_ok=True)
            temp = folder / f".{self.batch_id}{TEMP_SUFFIX}"
            self._writers[table.name] = (pq.ParquetWriter(temp, arrow.schema, compression="zstd"), temp)
        self._writers[table.name][0].write_table(arrow)

    def append_landed(self, cur, table: Table) -> None:
        """Append the rows this batch landed in PostgreSQL's ``table`` (read back in the
        batch's own transaction, so exactly what commits: ids, load time, rows skipped as
        duplicates left out)."""
        schema = polars_schema(table)
        rows = land.fetch(
            cur,
            f"select {_text_columns(table)} from {table.schema}.{table.name} where batch_id = %s order by 1",
            (self.batch_id,),
        )
        if rows:
            self.append(table, pl.DataFrame(rows, schema=schema, orient="row"))

    def seal(self, cur, entity: Entity) -> None:
        """Before the commit: write the batch's rows of the PostgreSQL tables (the entity's
        own unless sales, then load_batch, load_file, reject), close and fsync every file."""
        tables = [*([] if entity.dedup == "line_key" else [entity.table]), *BATCH_TABLES]
        for table in tables:
            self.append_landed(cur, table)
        for writer, temp in self._writers.values():
            writer.close()
            _fsync(temp)
            self._sealed.append(temp)
        self._writers.clear()

    def publish(self) -> list[Path]:
        """After the commit: the sealed files under their final names."""
        for temp in self._sealed:
            _publish(temp)
        return [_final(t) for t in self._sealed]

    def discard(self) -> None:
        """The batch failed: no file of it remains."""
        for writer, temp in self._writers.values():
            with contextlib.suppress(Exception):
                writer.close()
            self._sealed.append(temp)
        self._writers.clear()
        for temp in self._sealed:
            temp.unlink(missing_ok=True)
        self._sealed.clear()

    # -- the sales lines' duplicate guard ----------------------------------------------------------
    def files(self, table: Table) -> list[Path]:
        return sorted(self.folder(table).glob(f"*{SUFFIX}"))

    def landed_keys(self, table: Table, low, high) -> KeySet:
        """The line keys already in ``table``'s published files with an order date in
        [low, high] (as ``land.landed_keys`` reads them from PostgreSQL; the date filter is
        pushed down to the files' row-group statistics)."""
        keys = KeySet()
        files = self.files(table)
        if files:
            found = (
                pl.scan_parquet(files)
                .filter(pl.col("order_date").is_between(low, high))
                .select(
                    pl.col("line_key").str.replace_all("-", "", literal=True).str.decode("hex").alias(KEY)
                )
                .collect()
            )
            keys.add(found.get_column(KEY))
        return keys

    def sales_landing(self, cur, entity: Entity, batch_id: str) -> SalesLanding:
        return SalesLanding(cur, entity, batch_id, self)


class SalesLanding(land.SalesLanding):
    """``land.SalesLanding`` whose chunks go to the batch's Parquet file instead of a COPY:
    the same ids (reserved in ``raw.sales_line``'s sequence), lineage and keys."""

    def __init__(self, cur, entity: Entity, batch_id: str, out: ParquetLanding) -> None:
        super().__init__(cur, entity, batch_id)
        self.out = out
        self.had_lines = bool(out.files(entity.table))

    def start_file(self, rows: int, dates: tuple | None, batch_rows: int) -> KeySet | None:
        self._reserve(rows)
        if dates is None or dates[0] is None:
            return None
        return self.out.landed_keys(self.entity.table, *dates)

    def write(self, lines: pl.DataFrame) -> None:
        if lines.height:
            new = self.number(lines)
            self.out.append(
                self.entity.table,
                new.with_columns(pl.col("line_key").bin.encode("hex").pipe(_uuid_text)),
            )

    def end_copy(self) -> None:
        pass  # no COPY: the connection is always free

    def abort(self, exc: BaseException) -> None:
        self.out.discard()


def _uuid_text(hex32: pl.Expr) -> pl.Expr:
    """32 hex digits as PostgreSQL prints a uuid (8-4-4-4-12)."""
    return pl.concat_str(
        hex32.str.slice(0, 8),
        hex32.str.slice(8, 4),
        hex32.str.slice(12, 4),
        hex32.str.slice(16, 4),
        hex32.str.slice(20, 12),
        separator="-",
    )


@contextmanager
def landing(root: str | Path | None, batch_id: str):
    """The batch's Parquet files (None without ``--parquet``): published when the block (the
    batch's committed transaction) ends normally, discarded when it raises."""
    if root is None:
        yield None
        return
    out = ObjectStoreLanding(root, batch_id) if lake.is_uri(root) else ParquetLanding(root, batch_id)
    try:
        yield out
    except BaseException:
        out.discard()
        raise
    crash_point("publish")
    out.publish()


# -- on an object store ----------------------------------------------------------------------------
def _temp_name(batch_id: str) -> str:
    return f".{batch_id}{TEMP_SUFFIX}"


def _publish_object(store: lake.Store, folder: str, temp: str) -> None:
    """The object store's "rename" of a sealed staged object, in an order that a crash at any
    step leaves resolvable: copy it to its final name (a reader sees the whole file or none),
    remove the folder's ``EMPTY`` (a zero-row file: harmless if a crash keeps it), delete the
    staged object last, so that while it exists the next load publishes the batch again (the
    copy is idempotent: the same bytes under the same name)."""
    final = temp[1 : -len(TEMP_SUFFIX)] + SUFFIX
    try:
        store.copy((folder, temp), (folder, final))
    except FileNotFoundError:
        if not store.is_file(folder, final):  # else another load's recover published it
            raise
    crash_point("published-one")
    if final != EMPTY:
        store.delete(folder, EMPTY)
    store.delete(folder, temp)


def recover_store(cur, store: lake.Store) -> dict[str, list[str]]:
    """:func:`recover` on an object store: the staged objects a crashed load left in the raw
    tables' folders, published when ``raw.load_batch`` says their batch committed, deleted
    otherwise. Returns {"published": […], "deleted": […]} (URIs)."""
    done: dict[str, list[str]] = {"published": [], "deleted": []}
    temps = [
        (table.name, name)
        for table in RAW_TABLES
        for name in store.names(table.name)
        if name.startswith(".") and name.endswith(TEMP_SUFFIX)
    ]
    if not temps:
        return done
    batches = sorted({name[1 : -len(TEMP_SUFFIX)] for _, name in temps})
    committed = _committed(cur, batches)
    for folder, name in temps:
        if name[1 : -len(TEMP_SUFFIX)] in committed:
            _publish_object(store, folder, name)
            done["published"].append(store.uri_of(folder, name))
        else:
            store.delete(folder, name)
            done["deleted"].append(store.uri_of(folder, name))
    return done


def ensure_store_tables(store: lake.Store) -> list[str]:
    """:func:`ensure_tables` on an object store: a zero-row ``EMPTY`` object (one PUT, atomic)
    in every raw table's folder holding no visible Parquet object; an ``EMPTY`` left beside a
    batch's file by a crash during a publication is removed. Returns the objects written."""
    written = []
    for table in RAW_TABLES:
        files = [n for n in store.names(table.name) if n.endswith(SUFFIX) and not lake.hidden(n)]
        if not files:
            written.append(store.put_parquet(pl.DataFrame(schema=polars_schema(table)), table.name, EMPTY))
        elif EMPTY in files and len(files) > 1:
            store.delete(table.name, EMPTY)
    return written


class ObjectStoreLanding(ParquetLanding):
    """:class:`ParquetLanding` under an object-store root (``s3://bucket/prefix``): the same
    files, names, columns and rules, with an object store's operations in place of fsync and
    rename (docs/ingestion.md, "Parquet landing on an object store"):

    - while the batch lands, each table's file is uploaded as the staged object
      ``<table>/.<batch id>.parquet.tmp`` (hidden: Spark skips names starting with ``.`` or
      ``_``, and the readers here take visible ``*.parquet`` names only);
    - :meth:`seal` (before the commit) completes every upload: the staged objects exist whole;
    - :meth:`publish` (after the commit) copies each to ``<table>/<batch id>.parquet`` and then
      deletes the staged object (:func:`_publish_object`);
    - the next load into the root, under the root's advisory lock, resolves what a crash left
      (:func:`recover_store`) by the batch's status, as on a folder.
    """

    def __init__(self, root: str, batch_id: str) -> None:
        _check_batch_id(batch_id)
        self.store = lake.Store(root)
        self.root, self.batch_id = self.store.uri, batch_id
        self._writers: dict[str, tuple[pq.ParquetWriter, str]] = {}
        self._sealed: list[tuple[str, str]] = []  # (folder, staged object name)

    def open(self, cur) -> None:
        cur.execute("select pg_advisory_xact_lock(hashtext(%s))", (f"reco.parquet.{self.store.uri}",))
        cur.fetchall()
        recover_store(cur, self.store)
        ensure_store_tables(self.store)

    def append(self, table: Table, frame: pl.DataFrame) -> None:
        if frame.height == 0:
            return
        schema = polars_schema(table)
        arrow = frame.select(pl.col(name).cast(dtype) for name, dtype in schema.items()).to_arrow()
        if table.name not in self._writers:
            path = self.store.writable(table.name, _temp_name(self.batch_id))
            writer = pq.ParquetWriter(path, arrow.schema, compression="zstd", filesystem=self.store.fs)
            self._writers[table.name] = (writer, table.name)
        self._writers[table.name][0].write_table(arrow)

    def seal(self, cur, entity: Entity) -> None:
        tables = [*([] if entity.dedup == "line_key" else [entity.table]), *BATCH_TABLES]
        for table in tables:
            self.append_landed(cur, table)
        for writer, folder in self._writers.values():
            writer.close()  # completes the upload: the staged object now exists, whole
            self._sealed.append((folder, _temp_name(self.batch_id)))
        self._writers.clear()

    def publish(self) -> list[str]:
        for folder, temp in self._sealed:
            _publish_object(self.store, folder, temp)
        return [self.store.uri_of(folder, self.batch_id + SUFFIX) for folder, _ in self._sealed]

    def discard(self) -> None:
        for writer, folder in self._writers.values():
            with contextlib.suppress(Exception):
                writer.close()
            self._sealed.append((folder, _temp_name(self.batch_id)))
        self._writers.clear()
        for folder, temp in self._sealed:
            with contextlib.suppress(Exception):  # what remains is resolved by the next load
                self.store.delete(folder, temp)
        self._sealed.clear()

    def files(self, table: Table) -> list[str]:
        return self.store.parquet_files(table.name)
