"""The scorer's inputs: the dbt marts, read in bulk through ADBC into lazy Polars frames (or
from Parquet files as Spark writes them: ``reco.scoring.marts``, the source of the marts).

Only the columns the scorer uses are read, cast in SQL to the types below, so the reads do
not depend on how dbt happens to type a column (int vs bigint, numeric vs float).

Consent is read from durable tables only (docs/scoring.md, "Consent guarantees"):

- contacts come straight from ``raw.contact`` and ``reco.contact_event`` (Alembic's logged
  tables), put on master codes through the ``customer_code_map`` mart (a logged table), never
  from a view over dbt's unlogged intermediate tables, which a server crash empties;
- the ``customer`` mart's consent flags are tightened, never loosened, by what ``raw.customer``
  says now (an opt-out or a bounce loaded after the last ``dbt build`` still suppresses);
- :func:`check_sources` refuses to score when the warehouse contradicts those sources.
"""

from __future__ import annotations

import re
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import date

import adbc_driver_postgresql.dbapi as adbc
import polars as pl

from reco.db.engine import adbc_connect
from reco.db.models.base import CONSENT_SOURCES
from reco.db.target import Database
from reco.dbt.runner import dbt_project_dir
from reco.errors import RecoError
from reco.scoring.marts import CONSENT_MARTS, Marts, PostgresMarts, fetch
from reco.vocab import AROMA_AXES

_PREFIX = re.compile(r"([a-z_][a-z0-9_]*)?")
_STATUS = re.compile(r"[a-z0-9_-]+")

#: Columns read from each mart, with the SQL cast applied on read.
READ_COLUMNS: dict[str, dict[str, str]] = {
    "customer": CONSENT_MARTS["customer"],
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
        #: the RFM segment, kept on reco.run_customer (uplift per segment), not scored on
        "segment": "text",
    },
    "contact_history": {
        "customer_code": "text",
        "contact_date": "date",
        "is_control": "boolean",
    },
}

#: Every mart a run reads (what ``reco.scoring.marts.export_parquet`` writes for it).
MARTS_READ = (*READ_COLUMNS, "customer_code_map")

#: Consent flags as the durable sources say them, for every master customer of the mart:
#: the mart's own flags, tightened by every ``raw.customer`` record of the same master code
#: (through the code map; a code the map does not know stands for itself) or of the same
#: e-mail address. An opt-out or a "may not be contacted" on any record suppresses; the
#: address's latest known bounce status (by updated_at, load time, record id, as dbt orders
#: records) suppresses when it says bounced. The e-mailing tool's results in ``raw.contact``
#: tighten them as ``int_customers_merged`` does at the build, with the same vocabulary (the
#: seed ``contact_statuses``): an unsubscribe or a complaint opts out; a hard bounce bounces
#: unless a record of the master was updated after the day of the bounce.
#: ``consent_tightened`` marks the customers for whom the sources say what the mart does not
#: (a mart older than the exports). Text keys are compared in the "C" collation: byte
#: equality, and a sort several times cheaper.
CUSTOMERS_SQL = """
with records as (
    select
        coalesce(code_map.customer_code, btrim(rc.customer_code)) collate "C" as customer_code,
        nullif(lower(btrim(rc.email)), '') collate "C" as email,
        rc.is_contactable,
        rc.is_bounced,
        rc.is_optout,
        rc.updated_at,
        rc.loaded_at,
        rc.id
    from raw.customer as rc
    left join {schema}.customer_code_map as code_map
        on btrim(rc.customer_code) = code_map.source_customer_code
),
by_code as (
    select
        customer_code,
        bool_or(is_optout) as optout,
        bool_or(is_contactable = false) as refused
    from records
    group by customer_code
),
record_updates as (
    select
        customer_code,
        max(updated_at) as latest_updated_at,
        bool_or(updated_at is null) as has_undated_record
    from records
    group by customer_code
),
tool_feedback as (
    select
        coalesce(code_map.customer_code, btrim(contact.customer_code)) collate "C" as customer_code,
        max(contact.contact_date) filter (
            where lower(btrim(contact.status)) in ({bounce_statuses})
        ) as last_hard_bounce_date,
        bool_or(lower(btrim(contact.status)) in ({optout_statuses})) as unsubscribed
    from raw.contact as contact
    left join {schema}.customer_code_map as code_map
        on btrim(contact.customer_code) = code_map.source_customer_code
    where lower(btrim(contact.status)) in ({bounce_statuses}, {optout_statuses})
    group by 1
),
by_email as (
    select
        email,
        bool_or(is_optout) as optout,
        bool_or(is_contactable = false) as refused,
        (array_agg(is_bounced order by updated_at desc nulls last, loaded_at desc, id desc)
            filter (where is_bounced is not null))[1] as bounced
    from records
    where email is not null
    group by email
),
flags as (
    select
        mart.customer_code,
        mart.email,
        mart.is_contactable,
        mart.is_bounced,
        mart.is_optout,
        coalesce(by_code.refused, false) or coalesce(by_email.refused, false) as raw_refused,
        coalesce(by_email.bounced, false) or coalesce(
            tool_feedback.last_hard_bounce_date is not null and (
                record_updates.latest_updated_at is null
                or record_updates.has_undated_record
                or record_updates.latest_updated_at::date <= tool_feedback.last_hard_bounce_date
            ),
            false
        ) as raw_bounced,
        coalesce(by_code.optout, false) or coalesce(by_email.optout, false)
            or coalesce(tool_feedback.unsubscribed, false) as raw_optout
    from {schema}.customer as mart
    left join by_code on mart.customer_code collate "C" = by_code.customer_code
    left join by_email on lower(btrim(mart.email)) collate "C" = by_email.email
    left join record_updates on mart.customer_code collate "C" = record_updates.customer_code
    left join tool_feedback on mart.customer_code collate "C" = tool_feedback.customer_code
),
strict as (
    select
        customer_code,
        email,
        is_contactable and not raw_refused and not raw_bounced and not raw_optout as contactable,
        is_bounced or raw_bounced as bounced,
        is_optout or raw_optout as optout,
        is_contactable,
        is_bounced,
        is_optout,
        raw_refused,
        raw_bounced,
        raw_optout
    from flags
)
select
    customer_code::text as customer_code,
    email::text as email,
    contactable::boolean as is_contactable,
    bounced::boolean as is_bounced,
    optout::boolean as is_optout,
    (
        raw_refused and coalesce(is_contactable, false)
        or raw_bounced and not coalesce(is_bounced, false)
        or raw_optout and not coalesce(is_optout, false)
    )::boolean as consent_tightened
from strict
"""


def contact_status_effects() -> dict[str, str]:
    """{status: "optout" | "bounced"} for the e-mailing tool's statuses that change consent,
    from the dbt seed ``contact_statuses``: the vocabulary is written there once, and the
    scorer reads the file itself, so it applies before a build has loaded the seed."""
    path = dbt_project_dir() / "seeds" / "contact_statuses.csv"
    seed = pl.read_csv(path, infer_schema=False).filter(pl.col("consent_effect").is_not_null())
    effects = dict(seed.select("status", "consent_effect").iter_rows())
    for status, effect in effects.items():
        if not _STATUS.fullmatch(status) or effect not in ("optout", "bounced"):
            raise RecoError(
                f"{path}: status {status!r} with consent_effect {effect!r}: expected a lower-case"
                " status (letters, digits, _ and -) and optout, bounced or nothing"
            )
    return effects


def customers_sql(schema: str) -> str:
    """:data:`CUSTOMERS_SQL` for ``schema``, with the consent vocabulary of the seed."""
    effects = contact_status_effects()
    quoted = {
        effect: ", ".join(f"'{status}'" for status in sorted(effects) if effects[status] == effect) or "null"
        for effect in ("optout", "bounced")
    }
    return CUSTOMERS_SQL.format(
        schema=schema, optout_statuses=quoted["optout"], bounce_statuses=quoted["bounced"]
    )


#: Every contact, from the durable sources, on master codes (see the module's docstring).
CONTACTS_SQL = """
with contacts as (
    select
        btrim(customer_code) as code,
        contact_date,
        false as is_control,
        null::text as run_id,
        nullif(btrim(campaign_id), '') as campaign_id
    from raw.contact
    union all
    select
        btrim(customer_code) as code,
        contact_date,
        coalesce(is_control, false) as is_control,
        run_id::text as run_id,
        campaign_id::text as campaign_id
    from reco.contact_event
)
select
    coalesce(code_map.customer_code, contacts.code)::text as customer_code,
    contacts.contact_date::date as contact_date,
    contacts.is_control::boolean as is_control
from contacts
left join {schema}.customer_code_map as code_map
    on contacts.code = code_map.source_customer_code
{where}
"""

#: What :func:`check_sources` compares the marts with (``Marts.stats``): the durable sources.
SOURCES_SQL = """
select
    (select count(*) from raw.customer) as raw_customers,
    (select count(*) from raw.contact) + (select count(*) from reco.contact_event) as raw_contacts,
    (select greatest(
        (select max(contact_date) from raw.contact),
        (select max(contact_date) from reco.contact_event)
    )) as raw_latest_contact,
    (select count(distinct btrim(rc.customer_code)) from raw.customer as rc
        where not exists (
            select 1 from {schema}.customer_code_map as m
            where m.source_customer_code = btrim(rc.customer_code)
        )) as unmapped_customer_codes
"""


@dataclass
class ScoringInputs:
    """Everything ``score`` reads. Order lines are purchase lines (``is_purchase``) only."""

    customers: pl.LazyFrame
    products: pl.LazyFrame
    order_lines: pl.LazyFrame
    profiles: pl.LazyFrame
    contacts: pl.LazyFrame
    as_of: date
    #: what :data:`SOURCES_SQL` found (counts of the durable sources against the warehouse)
    sources: dict = field(default_factory=dict)
    #: measured customers of past runs (:data:`OUTCOMES_SQL`): scenario, segment, grp, bought;
    #: None: none read (incrementality stays at its priors)
    outcomes: pl.DataFrame | None = None
    #: where the marts were read (``marts``, ``parquet:/lake``), recorded with the run
    marts: str = "marts"


#: The measured campaign outcomes whose window ended before as_of (complete windows only), for
#: the incrementality posterior (reco.scoring.arbitration): one row per measured customer.
OUTCOMES_SQL = """
select scenario::text as scenario, segment::text as segment, grp::text as grp,
    bought_recommended as bought
from reco.run_outcome
where not is_partial and window_start + window_days <= date '{day}'
"""


def check_sources(row: dict, marts: Marts | str) -> list[str]:
    """The contradictions between the warehouse and the durable sources that make a run
    unsafe, one sentence each (empty: none). ``row`` is :data:`SOURCES_SQL`'s result with the
    marts' counts (``Marts.stats``)."""
    if isinstance(marts, str):
        marts = PostgresMarts(marts)
    customer, code_map, history = (
        marts.label(t) for t in ("customer", "customer_code_map", "contact_history")
    )
    rebuild = "rebuild the warehouse: reco dbt build"
    problems = []
    if row["raw_customers"] and not row["mart_customers"]:
        problems.append(f"{customer} is empty but raw.customer holds {row['raw_customers']:,} records")
    if row["mart_customers"] and not row["mapped_codes"]:
        problems.append(f"{code_map} is empty but {customer} is not")
    if marts.history_is_snapshot:
        # a table written at the last build (Spark): it lags every contact since, by design,
        # and eligibility never reads it (contacts come from raw.contact and
        # reco.contact_event); an empty one while the sources hold contacts is damage
        if row["raw_contacts"] and not row["history_contacts"]:
            problems.append(
                f"{history} is empty but raw.contact and reco.contact_event hold"
                f" {row['raw_contacts']:,} contacts"
            )
    elif row["history_contacts"] < row["raw_contacts"]:
        problems.append(
            f"{history} shows {row['history_contacts']:,} contacts but raw.contact"
            f" and reco.contact_event hold {row['raw_contacts']:,}"
        )
    elif row["raw_latest_contact"] and (
        row["history_latest_contact"] is None or row["history_latest_contact"] < row["raw_latest_contact"]
    ):
        problems.append(
            f"{history} ends on {row['history_latest_contact']} but the raw contacts"
            f" go to {row['raw_latest_contact']}"
        )
    return [
        f"{p} (the warehouse is damaged, e.g. by a server crash, which empties dbt's unlogged"
        f" tables, or older than its sources: {rebuild})"
        for p in problems
    ]


def read_inputs(
    db: Database,
    *,
    schema_prefix: str = "",
    as_of: date | None = None,
    contacts_until: date | None = None,
    marts: Marts | None = None,
) -> ScoringInputs:
    """Bulk-read the marts (``<prefix>marts.*``, or ``marts``: e.g. Parquet files,
    ``reco.scoring.marts``) and the durable consent sources, in one snapshot.

    History is every purchase strictly before ``as_of`` (default: today). Contacts are every
    contact (a contact dated after ``as_of`` still silences: the campaign goes out after the
    scoring), or those up to and including ``contacts_until`` (a backtest's cutoff). Raises
    RecoError when the warehouse contradicts the sources (:func:`check_sources`)."""
    as_of = as_of or date.today()
    marts = marts or PostgresMarts(marts_schema(schema_prefix))
    until = f"where contacts.contact_date <= date '{contacts_until.isoformat()}'" if contacts_until else ""
    queries = {
        "customers": customers_sql(marts.schema),
        "contacts": CONTACTS_SQL.format(schema=marts.schema, where=until),
        "outcomes": OUTCOMES_SQL.format(day=as_of.isoformat()),
    }

    def read_marts(conn: adbc.Connection) -> dict[str, pl.LazyFrame]:
        return {
            "products": marts.read(conn, "product", READ_COLUMNS["product"]),
            "order_lines": marts.read(conn, "order_line", READ_COLUMNS["order_line"], purchases_before=as_of),
            "profiles": marts.read(conn, "client_master_profile", READ_COLUMNS["client_master_profile"]),
        }

    frames, sources = _read_checked(db, marts, queries, "score", read_marts)
    return ScoringInputs(
        customers=frames["customers"].lazy(),
        products=frames["products"],
        order_lines=frames["order_lines"],
        profiles=frames["profiles"],
        contacts=frames["contacts"].lazy(),
        as_of=as_of,
        sources=sources,
        outcomes=frames["outcomes"],
        marts=str(marts),
    )


def marts_schema(schema_prefix: str) -> str:
    """``<prefix>marts``, once the prefix is checked (it is put into SQL)."""
    if not _PREFIX.fullmatch(schema_prefix):
        raise RecoError(
            f"schema prefix {schema_prefix!r}: expected lowercase letters, digits and underscores"
        )
    return f"{schema_prefix}marts"


def _read_checked(
    db: Database,
    marts: Marts,
    queries: dict[str, str],
    what: str,
    read_marts: Callable[[adbc.Connection], dict[str, pl.LazyFrame]] | None = None,
) -> tuple[dict, dict]:
    """Run ``queries`` (and ``read_marts``) in one read-only snapshot after checking the
    marts against the durable sources (:func:`check_sources`); raise RecoError naming what is
    missing or contradicts."""
    frames: dict = {}
    with adbc_connect(db) as conn:
        missing = [
            *marts.missing(conn, list(MARTS_READ)),
            *fetch(
                conn,
                " union all ".join(
                    f"select '{t}' as t, to_regclass('{t}') is null as missing" for t in CONSENT_SOURCES
                ),
            )
            .filter("missing")["t"]
            .to_list(),
        ]
        if missing:
            raise RecoError(
                f"scoring inputs missing: {', '.join(missing)} (build the warehouse first: reco dbt build)"
            )
        marts.prepare(conn)
        conn.commit()  # the snapshot's transaction begins next (a read-only one creates nothing)
        # every read sees one snapshot: consent and contacts cannot come from different moments
        fetch(conn, "set transaction isolation level repeatable read, read only")
        sources = {
            **fetch(conn, SOURCES_SQL.format(schema=marts.schema)).row(0, named=True),
            **marts.stats(conn),
        }
        problems = check_sources(sources, marts)
        if problems:
            raise RecoError(f"refusing to {what}: " + "; ".join(problems))
        for name, sql in queries.items():
            try:
                frames[name] = fetch(conn, sql)
            except Exception as exc:
                first = (str(exc).strip().splitlines() or [""])[0]
                raise RecoError(f"cannot read {name} from {marts}: {first}") from None
        if read_marts is not None:
            try:
                frames.update(read_marts(conn))
            except RecoError:
                raise
            except Exception as exc:
                first = (str(exc).strip().splitlines() or [""])[0]
                raise RecoError(f"cannot read the marts from {marts}: {first}") from None
    return frames, sources


def _literal(value: str) -> str:
    return "'" + value.replace("'", "''") + "'"


def read_consent(
    db: Database, *, schema_prefix: str = "", exclude_run: str | None = None, marts: Marts | None = None
) -> tuple[pl.LazyFrame, pl.LazyFrame]:
    """The consent flags and the contacts eligibility reads (``customers``, ``contacts``), from
    the same durable sources and checks as :func:`read_inputs`, now.

    ``exclude_run`` leaves out the contacts a run's own campaign made: its ``reco.contact_event``
    rows, and the e-mailing tool's ``raw.contact`` rows whose campaign id is the run id or a
    campaign id recorded for that run (so re-exporting a recorded run gives the same file)."""
    marts = marts or PostgresMarts(marts_schema(schema_prefix))
    where = ""
    if exclude_run is not None:
        run = _literal(exclude_run)
        where = f"""where contacts.run_id is distinct from {run}
            and (contacts.campaign_id is null or (contacts.campaign_id <> {run}
                and contacts.campaign_id not in (
                    select campaign_id from reco.contact_event
                    where run_id = {run} and campaign_id is not null)))"""
    queries = {
        "customers": customers_sql(marts.schema),
        "contacts": CONTACTS_SQL.format(schema=marts.schema, where=where),
    }
    frames, _ = _read_checked(db, marts, queries, "check consent")
    return frames["customers"].lazy(), frames["contacts"].lazy()


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
    out["marts"] = inputs.marts
    return out
