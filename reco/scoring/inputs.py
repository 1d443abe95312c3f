"""The scorer's inputs: the dbt marts, read in bulk through ADBC into lazy Polars frames.

Only the columns the scorer uses are read, cast in SQL to the types below, so the reads do
not depend on how dbt happens to type a column (int vs bigint, numeric vs float).
"""

from __future__ import annotations

import re
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import date

import adbc_driver_postgresql.dbapi as adbc
import polars as pl

from reco.db.resolver import Database, mask_url
from reco.errors import RecoError

_PREFIX = re.compile(r"([a-z_][a-z0-9_]*)?")
AROMA_AXES = ("fruity", "floral", "spicy", "herbal", "mineral", "woody", "toasty")

#: Columns read from each mart, with the SQL cast applied on read.
READ_COLUMNS: dict[str, dict[str, str]] = {
    "customer": {
        "customer_code": "text",
        "email": "text",
        "is_contactable": "boolean",
        "is_bounced": "boolean",
        "is_optout": "boolean",
    },
    "product": {
        "product_key": "text",
        "product_label": "text",
        "family_crm": "text",
        "cepage": "text",
        "price_band": "text",
        "premium_tier": "integer",
        "unit_price": "float8",
        **{f"aroma_{axis}": "integer" for axis in AROMA_AXES},
        "is_active": "boolean",
        "season_tags": "text",
        "global_popularity_score": "float8",
        "has_catalogue": "boolean",
    },
    "order_line": {
        "customer_code": "text",
        "product_key": "text",
        "order_date": "date",
        "doc_ref": "text",
        "quantity": "float8",
        "unit_price": "float8",
        "amount_ht": "float8",
    },
    "client_master_profile": {
        "customer_code": "text",
        "as_of_date": "date",
        "aroma_confidence": "float8",
        "aroma_level": "text",
        "n_unmapped_lines": "integer",
    },
    "contact_history": {
        "customer_code": "text",
        "contact_date": "date",
        "channel": "text",
        "is_control": "boolean",
    },
}


@dataclass
class ScoringInputs:
    """Everything ``score`` reads. Order lines are purchase lines (``is_purchase``) only."""

    customers: pl.LazyFrame
    products: pl.LazyFrame
    order_lines: pl.LazyFrame
    profiles: pl.LazyFrame
    contacts: pl.LazyFrame
    as_of: date


@contextmanager
def adbc_connect(db: Database) -> Iterator[adbc.Connection]:
    """An ADBC connection (one transaction until commit; rolled back if not committed)."""
    try:
        conn = adbc.connect(db.conninfo())
    except Exception as exc:  # the driver raises its own OperationalError subclasses
        first = (str(exc).strip().splitlines() or [""])[0]
        raise RecoError(
            f"cannot reach PostgreSQL at {db.host}:{db.port} (bulk connection): {mask_url(first)}"
        ) from None
    try:
        yield conn
    finally:
        conn.close()


def fetch(conn: adbc.Connection, sql: str, parameters: tuple = ()) -> pl.DataFrame:
    """Run one query and return its result as a Polars frame (Arrow, no per-row work)."""
    with conn.cursor() as cur:
        cur.execute(sql, parameters=parameters or None)
        return pl.from_arrow(cur.fetch_arrow_table())


def _select(schema: str, table: str, where: str = "") -> str:
    cols = ", ".join(f"{name}::{cast} as {name}" for name, cast in READ_COLUMNS[table].items())
    return f"select {cols} from {schema}.{table} {where}"


def read_inputs(db: Database, *, schema_prefix: str = "", as_of: date | None = None) -> ScoringInputs:
    """Bulk-read ``<prefix>marts.*``. History is every purchase strictly before ``as_of``;
    contacts are kept up to and including ``as_of``. ``as_of`` defaults to today."""
    if not _PREFIX.fullmatch(schema_prefix):
        raise RecoError(
            f"schema prefix {schema_prefix!r}: expected lowercase letters, digits and underscores"
        )
    as_of = as_of or date.today()
    schema = f"{schema_prefix}marts"
    day = as_of.isoformat()
    queries = {
        "customers": _select(schema, "customer"),
        "products": _select(schema, "product"),
        "order_lines": _select(schema, "order_line", f"where is_purchase and order_date < date '{day}'"),
        "profiles": _select(schema, "client_master_profile"),
        "contacts": _select(schema, "contact_history", f"where contact_date <= date '{day}'"),
    }
    frames = {}
    with adbc_connect(db) as conn:
        probe = " union all ".join(
            f"select '{t}' as t, to_regclass('{schema}.{t}') is null as missing" for t in READ_COLUMNS
        )
        missing = fetch(conn, probe).filter("missing")
        if missing.height:
            names = ", ".join(f"{schema}.{t}" for t in missing["t"])
            raise RecoError(f"scoring inputs missing: {names} (build the warehouse first: reco dbt build)")
        for name, sql in queries.items():
            try:
                frames[name] = fetch(conn, sql)
            except Exception as exc:
                first = (str(exc).strip().splitlines() or [""])[0]
                raise RecoError(f"cannot read {name} from {schema}: {first}") from None
    return ScoringInputs(
        customers=frames["customers"].lazy(),
        products=frames["products"].lazy(),
        order_lines=frames["order_lines"].lazy(),
        profiles=frames["profiles"].lazy(),
        contacts=frames["contacts"].lazy(),
        as_of=as_of,
    )


def fingerprint(inputs: ScoringInputs) -> dict:
    """Row counts and date ranges of the inputs, recorded with every run."""
    lines = inputs.order_lines.select(
        rows=pl.len(),
        first_order_date=pl.col("order_date").min(),
        latest_order_date=pl.col("order_date").max(),
    )
    contacts = inputs.contacts.select(rows=pl.len(), latest_contact_date=pl.col("contact_date").max())
    profiles = inputs.profiles.select(rows=pl.len(), profile_as_of=pl.col("as_of_date").max())
    counts = pl.collect_all(
        [
            inputs.customers.select(rows=pl.len()),
            inputs.products.select(rows=pl.len(), active=pl.col("is_active").fill_null(False).sum()),
            lines,
            profiles,
            contacts,
        ]
    )
    names = ("customer", "product", "order_line", "client_master_profile", "contact_history")
    out = {}
    for name, frame in zip(names, counts, strict=True):
        row = frame.row(0, named=True)
        out[name] = {k: (v.isoformat() if isinstance(v, date) else v) for k, v in row.items()}
    out["as_of"] = inputs.as_of.isoformat()
    return out
