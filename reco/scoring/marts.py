"""Where the scorer reads the marts: PostgreSQL's ``<prefix>marts`` schema (the default), or
Parquet files as Spark writes them (``parquet:PATH``). One abstraction, used by
``read_inputs`` and ``read_consent`` alike (``reco.scoring.inputs``).

Consent never comes from the marts alone, wherever they are: the flags of the ``customer`` mart
are tightened by ``raw.customer`` and the e-mailing tool's results in ``raw.contact``, and the
contacts come from ``raw.contact`` and ``reco.contact_event``, all in the operational
PostgreSQL (``inputs.CUSTOMERS_SQL``, ``inputs.CONTACTS_SQL``). Those queries join the marts'
``customer`` and ``customer_code_map``: with Parquet marts, these two are copied into temporary
tables of the reading session first (:meth:`ParquetMarts.prepare`), so the one SQL definition
of consent serves both. The stale-mart checks (``inputs.check_sources``) compare the counts of
the marts the run reads, here or there, with those durable sources.

Parquet layout: ``PATH/<table>/`` holding any number of ``*.parquet`` part files (``_SUCCESS``,
``.crc`` and other files are ignored; a ``_temporary`` folder, a Spark write under way or
failed, is refused), or a single ``PATH/<table>.parquet``. Every part file's schema is checked
before anything is read: a missing column, or a type that is not the one PostgreSQL's mart has
or an exact widening of it, is one error naming the file, the column, what was expected and what
was found. Casts are explicit (``TYPES``): integers of any width to ``Int32``, ``float``,
``double``, ``decimal`` and integers to ``Float64``; dates must be dates.

``PATH`` may be an object-store URI (``parquet:s3://bucket/marts``; ``reco.lake``): the same
layout, listed with ``pyarrow.fs`` (names starting with ``_`` or ``.`` are skipped, as Spark
skips them) and scanned by Polars from the store.
"""

from __future__ import annotations

import shutil
from abc import ABC, abstractmethod
from datetime import date
from pathlib import Path

import adbc_driver_postgresql.dbapi as adbc
import polars as pl

from reco import lake
from reco.db.engine import adbc_connect
from reco.db.target import Database
from reco.errors import RecoError

PARQUET = "parquet:"

#: The Polars type of each SQL cast the scorer's reads use (``inputs.READ_COLUMNS``).
TYPES: dict[str, pl.DataType] = {
    "text": pl.String(),
    "boolean": pl.Boolean(),
    "integer": pl.Int32(),
    "float8": pl.Float64(),
    "date": pl.Date(),
}
_INTEGERS = (pl.Int8, pl.Int16, pl.Int32, pl.Int64, pl.UInt8, pl.UInt16, pl.UInt32)
#: The Parquet types accepted for each target type (cast explicitly; anything else is refused).
ACCEPTED: dict[str, tuple] = {
    "text": (pl.String,),
    "boolean": (pl.Boolean,),
    "integer": _INTEGERS,
    "float8": (pl.Float64, pl.Float32, pl.Decimal, *_INTEGERS),
    "date": (pl.Date,),
}

#: The marts whose ``customer`` and ``customer_code_map`` the consent SQL joins, with their
#: columns (copied into temporary tables for Parquet marts).
CONSENT_MARTS: dict[str, dict[str, str]] = {
    "customer": {
        "customer_code": "text",
        "email": "text",
        "is_contactable": "boolean",
        "is_bounced": "boolean",
        "is_optout": "boolean",
    },
    "customer_code_map": {"source_customer_code": "text", "customer_code": "text"},
}
#: What the stale-mart checks read of ``contact_history``.
HISTORY = {"contact_date": "date"}


def fetch(conn: adbc.Connection, sql: str, parameters: tuple = ()) -> pl.DataFrame:
    """Run one query and return its result as a Polars frame (Arrow, no per-row work)."""
    with conn.cursor() as cur:
        cur.execute(sql, parameters=parameters or None)
        return pl.from_arrow(cur.fetch_arrow_table())


class Marts(ABC):
    """The marts a run reads. ``schema`` is where the consent SQL finds ``customer`` and
    ``customer_code_map`` in the reading session."""

    schema: str
    #: ``contact_history`` is a table written at the last build, not PostgreSQL's view over
    #: the live sources: it lags the contacts since, so only an empty one is damage
    #: (``inputs.check_sources``)
    history_is_snapshot: bool = False

    @abstractmethod
    def label(self, table: str) -> str:
        """How errors and records name a mart (``marts.customer``, ``parquet:/lake/customer``)."""

    def prepare(self, conn: adbc.Connection) -> None:  # noqa: B027 (nothing to do by default)
        """Before the read's snapshot: make ``schema``'s two consent marts visible to ``conn``."""

    @abstractmethod
    def missing(self, conn: adbc.Connection, tables: list[str]) -> list[str]:
        """The labels of those ``tables`` that do not exist."""

    @abstractmethod
    def stats(self, conn: adbc.Connection) -> dict:
        """``mart_customers``, ``mapped_codes``, ``history_contacts``, ``history_latest_contact``:
        what ``inputs.check_sources`` compares with the durable sources."""

    @abstractmethod
    def read(
        self,
        conn: adbc.Connection,
        table: str,
        columns: dict[str, str],
        *,
        purchases_before: date | None = None,
    ) -> pl.LazyFrame:
        """``columns`` ({name: SQL cast}) of a mart, typed as ``TYPES``; ``purchases_before``:
        only ``is_purchase`` rows with ``order_date`` before that day (``order_line``)."""


class PostgresMarts(Marts):
    """``<prefix>marts``, read in the run's snapshot (the default)."""

    def __init__(self, schema: str) -> None:
        self.schema = schema

    def __str__(self) -> str:
        return self.schema

    def label(self, table: str) -> str:
        return f"{self.schema}.{table}"

    def missing(self, conn, tables):
        probe = " union all ".join(
            f"select '{self.label(t)}' as t, to_regclass('{self.label(t)}') is null as missing"
            for t in tables
        )
        return fetch(conn, probe).filter("missing")["t"].to_list()

    def stats(self, conn):
        s = self.schema
        return fetch(
            conn,
            f"""select
                (select count(*) from {s}.customer) as mart_customers,
                (select count(*) from {s}.customer_code_map) as mapped_codes,
                (select count(*) from {s}.contact_history) as history_contacts,
                (select max(contact_date) from {s}.contact_history) as history_latest_contact""",
        ).row(0, named=True)

    def read(self, conn, table, columns, *, purchases_before=None):
        cols = ", ".join(f"{name}::{cast} as {name}" for name, cast in columns.items())
        where = (
            f"where is_purchase and order_date < date '{purchases_before.isoformat()}'"
            if purchases_before is not None
            else ""
        )
        return fetch(conn, f"select {cols} from {self.schema}.{table} {where}").lazy()


class ParquetMarts(Marts):
    """Marts written as Parquet (by Spark, or by :func:`export_parquet`), read lazily."""

    schema = "pg_temp"
    history_is_snapshot = True

    def __init__(self, root: str | Path) -> None:
        self.store = lake.Store(root) if lake.is_uri(root) else None
        if self.store is not None:
            self.root = self.store.uri
            if not self.store.is_dir():
                raise RecoError(f"--marts {PARQUET}{self.root}: nothing under this prefix")
            return
        self.root = Path(root)
        if not self.root.is_dir():
            raise RecoError(f"--marts {PARQUET}{self.root}: no such directory")

    def __str__(self) -> str:
        return f"{PARQUET}{self.root}"

    def label(self, table: str) -> str:
        if self.store is not None:
            return f"{PARQUET}{self.store.uri_of(table)}"
        return f"{PARQUET}{self.root / table}"

    def files(self, table: str) -> list[Path] | list[str] | None:
        """The table's part files (None: no such table)."""
        if self.store is not None:
            return self._store_files(table)
        folder, single = self.root / table, self.root / f"{table}.parquet"
        if folder.is_dir():
            if (folder / "_temporary").exists():
                raise RecoError(
                    f"{folder}: a _temporary folder is there (a Spark write under way or failed):"
                    " refusing to read a half-written table"
                )
            return sorted(folder.glob("*.parquet"))
        if single.is_file():
            return [single]
        return None

    def _store_files(self, table: str) -> list[str] | None:
        store = self.store
        if store.is_dir(table):
            if store.is_dir(table, "_temporary") or store.is_file(table, "_temporary"):
                raise RecoError(
                    f"{store.uri_of(table)}: a _temporary folder is there (a Spark write under way or"
                    " failed): refusing to read a half-written table"
                )
            return store.parquet_files(table)
        if store.is_file(f"{table}.parquet"):
            return [store.uri_of(f"{table}.parquet")]
        return None

    def _scan(self, table: str, columns: dict[str, str]) -> pl.LazyFrame:
        """The files' columns, after checking each file's schema, cast to ``TYPES``."""
        files = self.files(table)
        if files is None:
            raise RecoError(
                f"{self.label(table)}: no such table (a folder of Parquet files or {table}.parquet)"
            )
        for path in files:
            schema = pl.read_parquet_schema(path) if self.store is None else self.store.schema(path)
            for name, cast in columns.items():
                if name not in schema:
                    raise RecoError(f"{path}: column {name!r} is missing (expected {TYPES[cast]})")
                if not isinstance(schema[name], ACCEPTED[cast]):
                    raise RecoError(
                        f"{path}: column {name!r} is {schema[name]}, expected {TYPES[cast]}"
                        + (
                            f" or one of {', '.join(str(t) for t in ACCEPTED[cast][1:])}"
                            if len(ACCEPTED[cast]) > 1
                            else ""
                        )
                    )
        typed = [pl.col(name).cast(TYPES[cast]) for name, cast in columns.items()]
        if not files:  # an empty table (Spark wrote no part file)
            return pl.LazyFrame(schema={name: TYPES[cast] for name, cast in columns.items()})
        return pl.scan_parquet(files).select(typed)

    def prepare(self, conn):
        """Copy ``customer`` and ``customer_code_map`` into temporary tables of the session
        (committed before the snapshot begins: a read-only transaction cannot create them; the
        Parquet files are immutable, so the snapshot of the durable sources is what matters)."""
        for table, columns in CONSENT_MARTS.items():
            frame = self._scan(table, columns).collect()
            with conn.cursor() as cur:
                cur.execute(f"drop table if exists pg_temp.{table}")
                cur.adbc_ingest(table, frame.to_arrow(), mode="create", temporary=True)
                cur.execute(f"analyze pg_temp.{table}")  # autovacuum never analyses temporary tables

    def missing(self, conn, tables):
        return [self.label(t) for t in tables if self.files(t) is None]

    def stats(self, conn):
        counts = pl.collect_all(
            [
                self._scan("customer", {"customer_code": "text"}).select(mart_customers=pl.len()),
                self._scan("customer_code_map", {"customer_code": "text"}).select(mapped_codes=pl.len()),
                self._scan("contact_history", HISTORY).select(
                    history_contacts=pl.len(), history_latest_contact=pl.col("contact_date").max()
                ),
            ]
        )
        return {k: v for frame in counts for k, v in frame.row(0, named=True).items()}

    def read(self, conn, table, columns, *, purchases_before=None):
        if purchases_before is None:
            return self._scan(table, columns)
        scan = self._scan(table, {**columns, "is_purchase": "boolean"})
        return scan.filter(pl.col("is_purchase") & (pl.col("order_date") < purchases_before)).select(*columns)


def marts_source(spec: str | None, schema: str) -> Marts:
    """``--marts``: None or ``postgres`` (``schema``), or ``parquet:PATH``."""
    if spec is None or spec == "postgres":
        return PostgresMarts(schema)
    if spec.startswith(PARQUET) and len(spec) > len(PARQUET):
        return ParquetMarts(spec[len(PARQUET) :])
    raise RecoError(f"--marts {spec!r}: expected postgres or parquet:PATH")


def export_parquet(
    db: Database, root: str | Path, tables: list[str], schema: str = "marts"
) -> dict[str, int]:
    """Write PostgreSQL marts as Spark lays them out: ``root/<table>/part-0.parquet``, every
    column of each table (``numeric`` as a decimal of its scale, as Spark writes it). A table's
    folder is replaced whole. Returns the rows written per table. The way to try the Parquet
    path without Spark, and how the tests make Parquet marts.

    On an object store (``root`` a URI) a folder cannot be swapped: ``part-0.parquet`` is
    replaced (one PUT: a reader sees the old file or the new one), then every other object of
    the folder is deleted and ``_SUCCESS`` written; a reader listing the folder between the two
    (a folder that held other part files, e.g. Spark's) may see both: do not score while
    exporting."""
    store = lake.Store(root) if lake.is_uri(root) else None
    if store is None:
        root = Path(root)
        root.mkdir(parents=True, exist_ok=True)
    written = {}
    with adbc_connect(db) as conn:
        for table in tables:
            types = fetch(
                conn,
                "select column_name::text as name, data_type::text as type,"
                " numeric_precision::int as precision, numeric_scale::int as scale"
                f" from information_schema.columns where table_schema = '{schema}' and table_name = '{table}'"
                " order by ordinal_position",
            )
            if types.height == 0:
                raise RecoError(
                    f"{schema}.{table}: no such table (build the warehouse first: reco dbt build)"
                )
            cols = ", ".join(
                f'"{n}"::text as "{n}"' if t in ("numeric", "jsonb", "json", "uuid", "ARRAY") else f'"{n}"'
                for n, t in types.select("name", "type").iter_rows()
            )
            frame = fetch(conn, f"select {cols} from {schema}.{table}")
            frame = frame.with_columns(
                pl.col(n).cast(pl.Decimal(p or 38, s if s is not None else 10))
                for n, t, p, s in types.iter_rows()
                if t == "numeric"
            )
            if store is not None:
                store.put_parquet(frame, table, "part-0.parquet")
                for name in store.names(table, recursive=True):
                    if name not in ("part-0.parquet", "_SUCCESS"):
                        store.delete(table, name)
                store.put_bytes(b"", table, "_SUCCESS")
                written[table] = frame.height
                continue
            staged = root / f".{table}.new"
            shutil.rmtree(staged, ignore_errors=True)
            staged.mkdir()
            frame.write_parquet(staged / "part-0.parquet")
            (staged / "_SUCCESS").touch()
            shutil.rmtree(root / table, ignore_errors=True)
            staged.rename(root / table)
            written[table] = frame.height
    return written
