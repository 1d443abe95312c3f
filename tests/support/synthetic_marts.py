"""Generated mart data for the scorer's tests and benchmarks.

:data:`CONTRACT` is the contract of the marts the scorer reads, read from the dbt YAML that
enforces it (``dbt_project/models/marts/core/_core__models.yml``): each column's name and type,
and the primary keys. Tests and benchmarks make those marts themselves so that the scorer can
be tested without dbt; ``write_marts`` lands Polars frames there through ADBC;
``generate_marts`` makes a wine merchant's worth of vectorised random data.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date
from functools import cache

import numpy as np
import polars as pl
import yaml

from reco.db.engine import adbc_connect
from reco.db.target import Database
from reco.dbt.runner import dbt_project_dir
from reco.vocab import AROMA_AXES, FAMILIES, PRICE_BAND_EDGES, PRICE_BANDS

#: The dbt YAML that declares (and enforces) the contracts of the marts below.
CONTRACT_YAML = dbt_project_dir() / "models" / "marts" / "core" / "_core__models.yml"
#: The marts the scorer reads, with the code map that ties them to the durable sources.
MARTS = ("customer", "customer_code_map", "product", "order_line", "client_master_profile", "contact_history")


@dataclass(frozen=True)
class Column:
    name: str
    data_type: str
    primary_key: bool


@cache
def contract() -> dict[str, list[Column]]:
    """Each mart's columns as its dbt contract declares them, in order."""
    models = {m["name"]: m for m in yaml.safe_load(CONTRACT_YAML.read_text())["models"]}
    out = {}
    for name in MARTS:
        model = models[name]
        keys = {c for k in model.get("constraints", ()) if k["type"] == "primary_key" for c in k["columns"]}
        out[name] = [
            Column(
                c["name"],
                c["data_type"],
                c["name"] in keys or any(k["type"] == "primary_key" for k in c.get("constraints", ())),
            )
            for c in model["columns"]
        ]
    return out


def ddl(table: str) -> str:
    """``create table`` column definitions of ``table`` (types and primary key, no other
    constraint: a test may leave a column null to see what the scorer does with it)."""
    columns = contract()[table]
    keys = [c.name for c in columns if c.primary_key]
    defs = [f"{c.name} {c.data_type}" for c in columns]
    return ", ".join(defs + ([f"primary key ({', '.join(keys)})"] if keys else []))


def _jsonable(frame: pl.DataFrame) -> pl.DataFrame:
    """Lists of text (season_tags) travel as JSON array text."""
    lists = [c for c, t in frame.schema.items() if isinstance(t, pl.List)]
    return frame.with_columns(
        pl.concat_str(
            pl.lit("["),
            pl.col(c).list.eval(pl.format('"{}"', pl.element())).list.join(","),
            pl.lit("]"),
        ).alias(c)
        for c in lists
    )


def write_marts(db: Database, frames: dict[str, pl.DataFrame], *, schema_prefix: str = "") -> None:
    """(Re)create ``<prefix>marts.<table>`` for each frame, with the contract's columns and
    types; columns a frame lacks are null. One transaction for all of them."""
    schema = f"{schema_prefix}marts"
    with adbc_connect(db) as conn, conn.cursor() as cur:
        cur.execute(f"create schema if not exists {schema}")
        for table, frame in frames.items():
            cols = [(c.name, c.data_type) for c in contract()[table]]
            known = {c for c, _ in cols}
            extra = set(frame.columns) - known
            if extra:
                raise ValueError(f"{table}: columns not in the contract: {sorted(extra)}")
            cur.execute(f"drop table if exists {schema}.{table} cascade")
            cur.execute(f"create table {schema}.{table} ({ddl(table)})")
            if frame.width and frame.height:
                tmp = f"_in_{table}"
                cur.adbc_ingest(tmp, _jsonable(frame).to_arrow(), mode="create", temporary=True)
                exprs = [f"{col}::{typ}" if col in frame.columns else f"null::{typ}" for col, typ in cols]
                names = ", ".join(c for c, _ in cols)
                cur.execute(f"insert into {schema}.{table} ({names}) select {', '.join(exprs)} from {tmp}")
                cur.execute(f"drop table {tmp}")
            for sql in _SOURCES.get(table, ()):
                cur.execute(sql.format(schema=schema))
        conn.commit()


#: The durable sources behind a generated mart, written with it so that the scorer's source
#: checks (reco.scoring.inputs.check_sources) find the warehouse consistent: an identity code
#: map and one raw.customer record per customer, the contacts in raw.contact (real ones) and
#: reco.contact_event (control-group ones). Rows of earlier generated marts are replaced.
_SOURCES: dict[str, tuple[str, ...]] = {
    "customer": (
        "drop table if exists {schema}.customer_code_map",
        f"create table {{schema}}.customer_code_map ({ddl('customer_code_map')})",
        """insert into {schema}.customer_code_map
            select customer_code, customer_code, true, true from {schema}.customer""",
        "delete from raw.customer where batch_id = 'synthetic'",
        """insert into raw.customer (customer_code, email, is_contactable, is_bounced, is_optout,
                batch_id, source_file, source_row)
            select customer_code, email, is_contactable, is_bounced, is_optout, 'synthetic',
                'synthetic', row_number() over () from {schema}.customer""",
    ),
    "contact_history": (
        "delete from raw.contact where batch_id = 'synthetic'",
        "delete from reco.contact_event where campaign_id = 'synthetic'",
        """insert into raw.contact (customer_code, contact_date, channel, campaign_id, batch_id,
                source_file, source_row)
            select customer_code, contact_date, channel, 'synthetic', 'synthetic', 'synthetic',
                row_number() over () from {schema}.contact_history where not is_control""",
        """insert into reco.contact_event (customer_code, contact_date, channel, campaign_id,
                is_control)
            select customer_code, contact_date, coalesce(channel, 'email'), 'synthetic', true
            from {schema}.contact_history where is_control""",
    ),
}


GRAPES = (
    "Merlot",
    "Syrah",
    "Pinot Noir",
    "Cabernet",
    "Grenache",
    "Chardonnay",
    "Sauvignon",
    "Riesling",
    "Chenin",
    "Viognier",
    "Muscat",
    "Gamay",
)
SEASONS = ("winter", "spring", "summer", "autumn", "christmas")


@dataclass(frozen=True)
class Shape:
    """Knobs of the generated data (tests draw them with hypothesis)."""

    n_customers: int = 1000
    n_products: int = 200
    orders_per_customer: float = 2.5
    share_no_history: float = 0.2
    share_no_email: float = 0.03
    share_not_contactable: float = 0.05
    share_bounced: float = 0.02
    share_optout: float = 0.04
    share_contacted: float = 0.2
    share_active: float = 0.95
    share_unmapped_lines: float = 0.01
    with_attributes: bool = True
    n_families: int = len(FAMILIES)
    years: float = 3.0


def generate_marts(shape: Shape, *, seed: int = 0, as_of: date = date(2026, 1, 1)) -> dict[str, pl.DataFrame]:
    """Random marts with the contract's columns: customers with consent flags, a catalogue,
    purchase histories drawn from a popularity curve mixed with each customer's favourite
    family, profiles and contact history."""
    rng = np.random.default_rng(seed)
    n_c, n_p = shape.n_customers, shape.n_products
    attrs = shape.with_attributes

    # -- products ----------------------------------------------------------------------------
    fam_idx = rng.integers(0, max(1, shape.n_families), n_p)
    tier = rng.integers(0, 4, n_p)
    price = np.round(rng.lognormal(2.3, 0.4, n_p) * (1 + tier), 2)
    popularity = 1.0 / (1 + np.arange(n_p)) ** 0.9
    rng.shuffle(popularity)
    products = pl.DataFrame(
        {
            "product_key": [f"P{i:06d}" for i in range(n_p)],
            "product_label": [f"Wine {i}" for i in range(n_p)],
            "family_crm": np.array(FAMILIES)[fam_idx] if attrs else None,
            "cepage": np.array(GRAPES)[rng.integers(0, len(GRAPES), n_p)] if attrs else None,
            "premium_tier": tier if attrs else None,
            "unit_price": price,
            **{f"aroma_{a}": rng.integers(1, 6, n_p) if attrs else None for a in AROMA_AXES},
            "is_active": rng.random(n_p) < shape.share_active,
            "global_popularity_score": np.round(popularity, 6),
            "has_catalogue": np.full(n_p, attrs),
        },
        schema_overrides={
            "family_crm": pl.String,
            "cepage": pl.String,
            "premium_tier": pl.Int32,
            **{f"aroma_{a}": pl.Int32 for a in AROMA_AXES},
        },
    ).with_columns(
        price_band=pl.Series(PRICE_BANDS).gather(np.digitize(price, PRICE_BAND_EDGES))
        if attrs
        else pl.lit(None, pl.String),
        sucrosite_niveau=pl.lit("dry") if attrs else pl.lit(None, pl.String),
        season_tags=pl.when(rng.random(n_p) < 0.3)
        .then(pl.concat_list(pl.lit(pl.Series(np.array(SEASONS)[rng.integers(0, 5, n_p)]))))
        .otherwise(pl.lit([], pl.List(pl.String))),
    )

    # -- customers ---------------------------------------------------------------------------
    u = rng.random((5, n_c))
    customers = pl.DataFrame(
        {
            "customer_code": [f"C{i:08d}" for i in range(n_c)],
            "email": pl.Series([f"c{i}@example.com" for i in range(n_c)], dtype=pl.String)
            .to_frame()
            .select(pl.when(pl.Series(u[0] >= shape.share_no_email)).then(pl.first()))
            .to_series(),
            "country": "FR",
            "is_contactable": u[1] >= shape.share_not_contactable,
            "is_bounced": u[2] < shape.share_bounced,
            "is_optout": u[3] < shape.share_optout,
            "batch_id": "synthetic",
            "n_source_codes": np.ones(n_c, dtype=np.int32),
        }
    )

    # -- orders and lines --------------------------------------------------------------------
    has_history = u[4] >= shape.share_no_history
    n_orders = np.where(has_history, 1 + rng.geometric(1 / max(shape.orders_per_customer, 1), n_c) - 1, 0)
    order_cust = np.repeat(np.arange(n_c), n_orders)
    n_o = order_cust.size
    days_back = rng.integers(1, max(2, int(shape.years * 365)), n_o)
    n_lines = rng.integers(1, 4, n_o)
    line_order = np.repeat(np.arange(n_o), n_lines)
    line_cust = order_cust[line_order]
    fav_family = rng.integers(0, max(1, shape.n_families), n_c)
    cdf = np.cumsum(popularity) / popularity.sum()
    pick_global = np.searchsorted(cdf, rng.random(line_order.size))
    # favourite family: a popularity-weighted pick within the family, else the global pick
    order_by_fam = np.lexsort((-popularity, fam_idx))
    fam_start = np.searchsorted(fam_idx[order_by_fam], np.arange(max(1, shape.n_families)))
    fam_count = np.bincount(fam_idx, minlength=max(1, shape.n_families))
    fav = fav_family[line_cust]
    within = np.minimum(rng.geometric(0.25, line_order.size) - 1, np.maximum(fam_count[fav] - 1, 0))
    pick_fav = order_by_fam[np.minimum(fam_start[fav] + within, n_p - 1)]
    use_fav = (rng.random(line_order.size) < 0.6) & (fam_count[fav] > 0)
    line_prod = np.where(use_fav, pick_fav, pick_global)
    qty = rng.integers(1, 7, line_order.size)
    unit = price[line_prod]
    unmapped = rng.random(line_order.size) < shape.share_unmapped_lines
    epoch_day = (as_of - date(1970, 1, 1)).days
    order_dates = pl.Series((epoch_day - days_back).astype(np.int32)).cast(pl.Date)
    lines = pl.DataFrame(
        {
            "id": np.arange(1, line_order.size + 1),
            "customer_code": customers["customer_code"].gather(line_cust),
            "product_key": products["product_key"]
            .gather(line_prod)
            .to_frame()
            .select(pl.when(pl.Series(~unmapped)).then(pl.first()))
            .to_series(),
            "product_label": products["product_label"].gather(line_prod),
            "order_date": order_dates.gather(line_order),
            "doc_ref": pl.Series(np.char.add("D", line_order.astype(str))),
            "quantity": qty.astype(float),
            "unit_price": unit,
            "amount_ht": np.round(qty * unit / 1.2, 2),
            "amount_ttc": np.round(qty * unit, 2),
            "line_type": "sale",
            "is_purchase": True,
        },
        schema_overrides={
            "customer_code": pl.String,
            "product_key": pl.String,
            "product_label": pl.String,
            "order_date": pl.Date,
            "doc_ref": pl.String,
            "quantity": pl.Float64,
            "unit_price": pl.Float64,
            "amount_ht": pl.Float64,
            "amount_ttc": pl.Float64,
            "line_type": pl.String,
            "is_purchase": pl.Boolean,
            "id": pl.Int64,
        },
    )

    # -- profiles and contacts -----------------------------------------------------------------
    profiles = (
        lines.group_by("customer_code")
        .agg(
            first_order_date=pl.col("order_date").min(),
            last_order_date=pl.col("order_date").max(),
            nb_commandes=pl.col("doc_ref").n_unique().cast(pl.Int32),
            ca_ht=pl.col("amount_ht").sum(),
            n_unmapped_lines=pl.col("product_key").null_count().cast(pl.Int32),
        )
        .sort("customer_code")
        .with_columns(
            as_of_date=pl.lit(as_of),
            recence_jours=(pl.lit(as_of) - pl.col("last_order_date")).dt.total_days().cast(pl.Int32),
        )
    )
    profiles = profiles.with_columns(
        aroma_confidence=pl.Series(np.round(rng.random(profiles.height), 3))
        if attrs
        else pl.lit(None, pl.Float64),
        aroma_axe_1=pl.lit("fruity" if attrs else None, pl.String),
        # a stand-in for dbt's RFM segment (no random draw: the other columns stay as they were)
        segment=pl.when(pl.col("nb_commandes") >= 3)
        .then(pl.lit("loyal_customers"))
        .otherwise(pl.lit("promising")),
    ).with_columns(
        aroma_level=pl.when(pl.col("aroma_confidence").is_null())
        .then(pl.lit("none"))
        .when(pl.col("aroma_confidence") < 0.3)
        .then(pl.lit("low"))
        .when(pl.col("aroma_confidence") < 0.7)
        .then(pl.lit("medium"))
        .otherwise(pl.lit("high"))
    )
    contacted = np.flatnonzero(rng.random(n_c) < shape.share_contacted)
    contacts = pl.DataFrame(
        {
            "customer_code": customers["customer_code"].gather(contacted),
            "contact_date": pl.Series(
                (epoch_day - rng.integers(0, 120, contacted.size)).astype(np.int32)
            ).cast(pl.Date),
            "channel": "email",
            "campaign_id": "synthetic",
            "source": "import",
            "is_control": False,
        },
        schema_overrides={
            "customer_code": pl.String,
            "contact_date": pl.Date,
            "is_control": pl.Boolean,
            "channel": pl.String,
            "campaign_id": pl.String,
            "source": pl.String,
        },
    )
    return {
        "customer": customers,
        "product": products,
        "order_line": lines,
        "client_master_profile": profiles,
        "contact_history": contacts,
    }


def as_inputs(frames: dict[str, pl.DataFrame], as_of: date):
    """The same frames as ``read_inputs`` would return them (purchases before as_of)."""
    from reco.scoring.inputs import READ_COLUMNS, ScoringInputs

    def pick(table: str) -> pl.LazyFrame:
        frame = _jsonable(frames[table]) if table == "product" else frames[table]
        cols = READ_COLUMNS[table]
        return frame.lazy().select((pl.col(c) if c in frame.columns else pl.lit(None)).alias(c) for c in cols)

    lines = (
        frames["order_line"]
        .lazy()
        .filter("is_purchase", pl.col("order_date") < as_of)
        .select(pl.col(c) for c in READ_COLUMNS["order_line"])
    )
    return ScoringInputs(
        customers=pick("customer"),
        products=pick("product"),
        order_lines=lines,
        profiles=pick("client_master_profile"),
        contacts=pick("contact_history").filter(pl.col("contact_date") <= as_of),
        as_of=as_of,
    )
