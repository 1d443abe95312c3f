"""``generate``: write the CSV exports of a synthetic French wine merchant.

The files, their dialects and what they contain are documented in docs/demo-data.md."""

from __future__ import annotations

import json
from dataclasses import asdict, dataclass, field
from datetime import date
from pathlib import Path

import numpy as np
import polars as pl

from reco.demo_data import vocab
from reco.demo_data._days import epoch_day, year_of
from reco.demo_data.catalogue import (
    LABEL_VARIANTS,
    N_VARIANTS,
    Catalogue,
    build_catalogue,
    default_product_count,
)
from reco.demo_data.contacts import build_contacts
from reco.demo_data.people import NEVER, Accounts, build_accounts, build_people
from reco.demo_data.sales import add_returns_and_credit_notes, number_documents, simulate_lines
from reco.errors import RecoError

DEFAULT_END_DATE = date(2026, 10, 31)
#: The size and seed of the demo exports, for ``reco demo`` and ``reco demo-data`` alike.
DEFAULT_CUSTOMERS = 5_000
DEFAULT_SEED = 42
DEFAULT_OVERLAP_DAYS = 5
SALES_COLUMNS = (
    "doc_ref", "order_date", "customer_code", "product_key", "product_label", "quantity",
    "unit_price", "amount_ht", "amount_ttc", "country",
)  # fmt: skip
CUSTOMER_COLUMNS = (
    "customer_code", "email", "first_name", "last_name", "country", "is_contactable",
    "is_bounced", "is_optout", "signup_date", "updated_at",
)  # fmt: skip
#: Opt-outs less than this many days old may still show is_contactable = 1 (CRM sync lag).
OPTOUT_SYNC_LAG_DAYS = 30


@dataclass(frozen=True)
class Dialect:
    """How a file is written; ``reco load`` must read it back with these settings."""

    separator: str
    encoding: str  # Python codec name: utf-8, utf-8-sig (BOM), latin-1
    decimal: str  # "." or ","
    date_format: str | None = None  # strftime pattern of date columns
    datetime_format: str | None = None  # strftime pattern of date-time columns
    booleans: str | None = None  # "true/false" or "1/0"


PRODUCTS_DIALECT = Dialect(",", "utf-8-sig", ".", booleans="true/false")
CUSTOMERS_DIALECT = Dialect(";", "latin-1", ".", "%d/%m/%Y", "%d/%m/%Y %H:%M:%S", "1/0")
SALES_DIALECT = Dialect(";", "utf-8", ",", "%d/%m/%Y")
ALIASES_DIALECT = Dialect(",", "utf-8", ".")
CONTACTS_DIALECT = Dialect(",", "utf-8", ".", datetime_format="%Y-%m-%d %H:%M:%S")


@dataclass(frozen=True)
class ManifestFile:
    name: str  # file name inside out_dir
    entity: str  # the `reco load` entity: products | customers | sales | aliases | contacts
    rows: int  # data rows (header excluded)
    dialect: Dialect


@dataclass(frozen=True)
class Manifest:
    out_dir: Path
    seed: int
    customers: int
    products: int
    start_date: date
    end_date: date
    overlap_days: int
    files: list[ManifestFile] = field(default_factory=list)

    def rows(self, entity: str) -> int:
        return sum(f.rows for f in self.files if f.entity == entity)

    def to_json(self) -> str:
        data = asdict(self)
        data["out_dir"] = None  # the manifest travels with the files
        return json.dumps(data, default=str, indent=2, ensure_ascii=False) + "\n"

    @classmethod
    def read(cls, out_dir: Path) -> Manifest | None:
        """The manifest of a folder written by ``generate``, or None if there is none."""
        path = Path(out_dir) / "manifest.json"
        if not path.is_file():
            return None
        data = json.loads(path.read_text(encoding="utf-8"))
        files = [
            ManifestFile(f["name"], f["entity"], f["rows"], Dialect(**f["dialect"]))
            for f in data.pop("files")
        ]
        data.update(
            out_dir=Path(out_dir),
            start_date=date.fromisoformat(data["start_date"]),
            end_date=date.fromisoformat(data["end_date"]),
        )
        return cls(**data, files=files)


def ensure(
    out_dir: Path,
    customers: int,
    seed: int,
    *,
    products: int | None = None,
    end_date: date = DEFAULT_END_DATE,
    overlap_days: int = DEFAULT_OVERLAP_DAYS,
) -> Manifest:
    """The demo data in ``out_dir``, generated only if missing or made with other arguments
    (what ``reco demo`` needs: generate once, then reuse)."""
    existing = Manifest.read(out_dir)
    wanted_products = default_product_count(customers) if products is None else products
    if (
        existing is not None
        and (existing.seed, existing.customers, existing.products) == (seed, customers, wanted_products)
        and (existing.end_date, existing.overlap_days) == (end_date, overlap_days)
        and all((Path(out_dir) / f.name).is_file() for f in existing.files)
    ):
        return existing
    return generate(out_dir, customers, seed, products=products, end_date=end_date, overlap_days=overlap_days)


def generate(
    out_dir: Path,
    customers: int,
    seed: int,
    *,
    products: int | None = None,
    end_date: date = DEFAULT_END_DATE,
    overlap_days: int = DEFAULT_OVERLAP_DAYS,
) -> Manifest:
    """Write the merchant's exports into ``out_dir`` and return what was written.

    The sales run from 1 January three years before ``end_date``'s year to ``end_date``; the
    same arguments always give byte-identical files (nothing depends on today's date)."""
    if customers < 1:
        raise RecoError(f"--customers must be at least 1, got {customers}")
    n_products = default_product_count(customers) if products is None else products
    if n_products < len(vocab.STYLES):
        raise RecoError(
            f"--products must be at least {len(vocab.STYLES)} (one per wine style), got {n_products}"
        )
    if overlap_days < 0:
        raise RecoError(f"overlap_days must be >= 0, got {overlap_days}")
    start_date = date(end_date.year - 3, 1, 1)
    start_day, end_day = epoch_day(start_date), epoch_day(end_date)
    xmas_days = np.array(
        [
            epoch_day(date(y, 12, 1))
            for y in range(start_date.year, end_date.year + 1)
            if date(y, 12, 1) <= end_date
        ]
    )
    rng_cat, rng_people, rng_acc, rng_sales, rng_docs, rng_contacts, rng_misc = (
        np.random.default_rng(s) for s in np.random.SeedSequence(seed).spawn(7)
    )

    cat = build_catalogue(rng_cat, n_products, start_day, end_day, end_date.year)
    n_dup = max(1, round(customers * 0.02)) if customers >= 5 else 0
    people = build_people(rng_people, customers - n_dup, start_day, end_day, xmas_days)
    accounts = build_accounts(rng_acc, people, customers, start_day, end_day)
    lines = simulate_lines(rng_sales, people, accounts, cat, start_day, end_day, xmas_days)
    lines = number_documents(add_returns_and_credit_notes(rng_docs, lines, end_day))
    contacts, bounce_day = build_contacts(rng_contacts, accounts, start_date, end_date)

    out_dir = Path(out_dir)
    out_dir.mkdir(parents=True, exist_ok=True)
    manifest = Manifest(out_dir, seed, len(accounts), n_products, start_date, end_date, overlap_days)
    _write(manifest, "products.csv", "products", cat.products, PRODUCTS_DIALECT)

    old_day = epoch_day(date(end_date.year - 1, 12, 31))
    for as_of, latest in ((old_day, False), (end_day, True)):
        export = _customer_export(rng_misc, accounts, bounce_day, as_of, latest)
        year = int(year_of(np.array([as_of]))[0])
        _write(manifest, f"customers_{year}.csv", "customers", export, CUSTOMERS_DIALECT)

    sales = _sales_frame(lines, cat, accounts)
    for year in range(start_date.year, end_date.year + 1):
        lo, hi = epoch_day(date(year, 1, 1)), epoch_day(date(year + 1, 1, 1)) + overlap_days
        part = sales.filter((pl.col("day") >= lo) & (pl.col("day") < hi)).select(SALES_COLUMNS)
        _write(manifest, f"sales_{year}.csv", "sales", part, SALES_DIALECT)

    _write(manifest, "aliases.csv", "aliases", _aliases(rng_misc, lines, cat), ALIASES_DIALECT)
    contact_rows = contacts.sort("ts", "account").select(
        customer_code=accounts.code.gather(contacts.sort("ts", "account")["account"]),
        contact_date="ts",
        channel="channel",
        campaign_id="campaign_id",
        status="status",
    )
    _write(manifest, "contacts.csv", "contacts", contact_rows, CONTACTS_DIALECT)
    (out_dir / "manifest.json").write_text(manifest.to_json(), encoding="utf-8")
    return manifest


def _sales_frame(lines: pl.DataFrame, cat: Catalogue, accounts: Accounts) -> pl.DataFrame:
    product = lines["product"].to_numpy()
    account = lines["account"].to_numpy()
    qty = lines["quantity"].to_numpy()
    unit = lines["unit_price"].to_numpy()
    amount_ht = np.round(qty * unit, 2)
    return (
        lines.with_columns(
            order_date=pl.col("day").cast(pl.Date),
            customer_code=accounts.code.gather(account),
            product_key=pl.when(pl.col("keyed")).then(cat.keys.gather(product)),
            product_label=cat.labels.gather(product * N_VARIANTS + lines["variant"].to_numpy()),
            amount_ht=pl.Series(amount_ht),
            amount_ttc=pl.Series(np.round(amount_ht * (1 + vocab.VAT_RATE), 2)),
            country=accounts.country.gather(account),
        )
        .sort("day", "doc_ref", "line_no")
        .unique(  # two vintages may share a variant label
            ["doc_ref", "product_label"], keep="first", maintain_order=True
        )
    )


def _customer_export(
    rng: np.random.Generator, accounts: Accounts, bounce_day: np.ndarray, as_of: int, latest: bool
) -> pl.DataFrame:
    """The CRM export taken on day ``as_of``: accounts signed up by then, in their state then."""
    n = len(accounts)
    optout = accounts.optout_day <= as_of
    bounced = bounce_day <= as_of
    changed = (accounts.email_change_day > as_of) & (accounts.email_change_day < NEVER)
    capitals = (accounts.name_fix_day > as_of) & (accounts.name_fix_day < NEVER)
    email = pl.select(
        pl.when(pl.Series(changed)).then(accounts.old_email).otherwise(accounts.email)
    ).to_series()
    stale = latest & optout & (as_of - accounts.optout_day < OPTOUT_SYNC_LAG_DAYS) & (rng.random(n) < 0.5)
    events = np.stack(
        [accounts.signup_day]
        + [
            np.where(d <= as_of, d, -NEVER)
            for d in (
                accounts.email_change_day,
                accounts.name_fix_day,
                accounts.optout_day,
                bounce_day,
            )
        ]
    )
    updated = events.max(axis=0).astype(np.int64) * 86400 + rng.integers(8 * 3600, 19 * 3600, n)
    frame = pl.DataFrame(
        {
            "customer_code": accounts.code,
            "email": email,
            "first_name": accounts.first_name,
            "last_name": pl.select(
                pl.when(pl.Series(capitals))
                .then(accounts.last_name.str.to_uppercase())
                .otherwise(accounts.last_name)
            ).to_series(),
            "country": accounts.country,
            "is_bounced": bounced,
            "is_optout": optout,
            "signup_date": pl.Series(accounts.signup_day).cast(pl.Date),
            "updated_at": pl.Series(updated * 1_000_000).cast(pl.Datetime("us")),
            "keep": accounts.signup_day <= as_of,
            "stale": stale,
        }
    )
    return (
        frame.filter("keep")
        .with_columns(
            is_contactable=(pl.col("email").is_not_null() & ~pl.col("is_bounced") & ~pl.col("is_optout"))
            | pl.col("stale"),
        )
        .with_columns(pl.col("is_contactable", "is_bounced", "is_optout").cast(pl.Int8))
        .sort("customer_code")
        .select(CUSTOMER_COLUMNS)
    )


def _aliases(rng: np.random.Generator, lines: pl.DataFrame, cat: Catalogue) -> pl.DataFrame:
    """Curated overrides: the hardest invoice labels (typos, abbreviations) of products that
    really appear so in the sales, mapped by hand to their product."""
    hard = [LABEL_VARIANTS.index("typo"), LABEL_VARIANTS.index("abbreviated")]
    seen = (
        lines.filter(pl.col("variant").is_in(hard))
        .select("product", "variant")
        .unique()
        .sort("product", "variant")
    )
    n = min(max(5, len(cat.style) // 10), 60, seen.height)
    pick = np.sort(rng.choice(seen.height, n, replace=False)) if n else np.zeros(0, np.int64)
    chosen = seen[pick]
    idx = chosen["product"].to_numpy() * N_VARIANTS + chosen["variant"].to_numpy()
    return (
        pl.DataFrame(
            {
                "alias_label": cat.labels.gather(idx),
                "product_key": cat.keys.gather(chosen["product"].to_numpy()),
            }
        )
        .unique("alias_label", keep="first", maintain_order=True)
        .sort("product_key", "alias_label")
    )


def _write(manifest: Manifest, name: str, entity: str, frame: pl.DataFrame, dialect: Dialect) -> None:
    write_export(manifest.out_dir / name, frame, dialect)
    manifest.files.append(ManifestFile(name, entity, frame.height, dialect))


def write_export(path: Path, frame: pl.DataFrame, dialect: Dialect) -> None:
    """Write ``frame`` as a CSV export in ``dialect`` (what ``reco load`` reads back)."""
    options = dict(
        separator=dialect.separator,
        decimal_comma=dialect.decimal == ",",
        float_precision=2,
        date_format=dialect.date_format,
        datetime_format=dialect.datetime_format,
    )
    if dialect.encoding in ("utf-8", "utf-8-sig"):
        frame.write_csv(path, include_bom=dialect.encoding == "utf-8-sig", **options)
    else:  # the Windows CRM: its own code page and CRLF line ends
        path.write_bytes(frame.write_csv(line_terminator="\r\n", **options).encode(dialect.encoding))
