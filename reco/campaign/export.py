"""``reco export``: a succeeded run's treated customers, as a file an e-mailing tool imports.

- Only ``treatment`` customers of ``reco.run_customer`` are exported, never ``control``.
- Consent is checked again, now, with the scorer's own code (``read_consent`` +
  ``eligibility``, the run's own ``silence_days``): anyone who has since opted out, bounced,
  become not contactable or been contacted (by anything but this run's own campaign) is left
  out, with an ``audit_item`` of kind ``export_suppressed`` naming the reason. Each export
  replaces the run's earlier export audits and ``run_customer.export_status`` (what
  ``reco contacts record`` records), in one transaction with the file.
- The file is sorted by customer code and carries no timestamp: the same run exported with the
  same data gives the same bytes (csv, xlsx and parquet alike).
"""

from __future__ import annotations

import datetime as dt
import json
import os
from dataclasses import dataclass, field
from pathlib import Path

import polars as pl

from reco.campaign import require_run
from reco.db.engine import adbc_connect
from reco.db.target import Database
from reco.errors import RecoError
from reco.scoring.config import Eligibility
from reco.scoring.eligibility import eligibility
from reco.scoring.inputs import fetch, marts_schema, read_consent
from reco.scoring.marts import marts_source

FORMATS = ("csv", "xlsx", "parquet")
TOP_N = 3
EXPORT_KIND = "export_suppressed"
#: a treated customer the customer table no longer knows
UNKNOWN_CUSTOMER = "unknown_customer"
#: the xlsx file's creation date: fixed, so that the file does not change with the clock
XLSX_CREATED = dt.datetime(2000, 1, 1)


@dataclass(frozen=True)
class Layout:
    """Column names and CSV dialect of one e-mailing tool's contact import."""

    separator: str
    names: dict[str, str]  # generic column name -> this tool's

    def rename(self, columns: list[str]) -> dict[str, str]:
        return {c: self.names.get(c, c) for c in columns}


def _product_columns(rank: int) -> list[str]:
    return [f"product_{rank}_{part}" for part in ("key", "label", "price", "reason")]


#: The generic columns, in file order.
COLUMNS = [
    "email",
    "first_name",
    "customer_code",
    "scenario",
    *(c for rank in range(1, TOP_N + 1) for c in _product_columns(rank)),
]

LAYOUTS = {
    # reco's own names, comma-separated UTF-8
    "generic": Layout(",", {}),
    # Brevo contact import: EMAIL and FIRSTNAME are its built-in attributes, other attributes
    # are uppercase; ';' separated, UTF-8
    "brevo": Layout(";", {c: c.upper().replace("FIRST_NAME", "FIRSTNAME") for c in COLUMNS}),
    # Mailchimp audience import: "Email Address", "First Name", merge tags uppercase and at
    # most 10 characters; comma-separated UTF-8
    "mailchimp": Layout(
        ",",
        {
            "email": "Email Address",
            "first_name": "First Name",
            "customer_code": "CUSTCODE",
            "scenario": "SCENARIO",
            **{
                f"product_{r}_{part}": f"P{r}{part.upper()}"
                for r in range(1, TOP_N + 1)
                for part in ("key", "label", "price", "reason")
            },
        },
    ),
}


@dataclass
class ExportSummary:
    run_id: str
    path: Path
    format: str
    layout: str
    as_of: dt.date
    exported: int
    suppressed_by_reason: dict[str, int] = field(default_factory=dict)
    control: int = 0


def _literal(value: str) -> str:
    return "'" + value.replace("'", "''") + "'"


def reason_in_words(labels: pl.Expr) -> pl.Expr:
    """For a run scored before reasons in words (its reasons_json has no ``why``; newer runs
    export their ``why``, reco/scoring/why.py): one plain line per item from its
    ``reasons_json``, ``scenario`` and the ``because`` product's label (``labels``)."""
    reasons = pl.col("reasons_json")
    probability = reasons.str.json_path_match("$.probability").cast(pl.Float64)
    own = reasons.str.json_path_match("$.components.own").cast(pl.Float64).fill_null(0)
    percent = (probability * 100).round(0).clip(1, 99).cast(pl.Int64).cast(pl.String)
    scenario = pl.col("scenario")
    return (
        pl.when(reasons.str.json_path_match("$.source") == "fallback_popular")
        .then(pl.lit("popular with our customers right now"))
        .when(probability.is_not_null())
        .then(pl.format("{}% chance to buy it again", percent))
        .when(labels.is_not_null())
        .then(pl.format("often bought with {}", labels))
        .when(scenario == "REBUY")
        .then(pl.lit("one you have bought before"))
        .when((scenario == "WINBACK") & (own > 0))
        .then(pl.lit("one of your past favourites"))
        .when(scenario == "UPSELL")
        .then(pl.lit("a step up from what you usually buy"))
        .when(scenario == "CROSS_SELL")
        .then(pl.lit("goes well with what you have bought"))
        .otherwise(pl.lit("popular with our customers right now"))
    )


def _rows(treated: pl.DataFrame, items: pl.DataFrame, products: pl.DataFrame) -> pl.DataFrame:
    """One row per exported customer, with the generic :data:`COLUMNS`."""
    because = products.select(because_key="product_key", because_label="product_label")
    described = (
        items.with_columns(because_key=pl.col("reasons_json").str.json_path_match("$.because[0]"))
        .join(products, on="product_key", how="left")
        .join(because, on="because_key", how="left")
        .with_columns(
            reason=pl.coalesce(
                pl.col("reasons_json").str.json_path_match("$.why"),
                reason_in_words(pl.coalesce("because_label", "because_key")),
            ),
            price=pl.col("unit_price").round(2),
        )
    )
    out = treated.select("email", "first_name", "customer_code", "scenario")
    for rank in range(1, TOP_N + 1):
        key, label, price, reason = _product_columns(rank)
        out = out.join(
            described.filter(pl.col("rank") == rank).select(
                "customer_code",
                pl.col("product_key").alias(key),
                pl.col("product_label").alias(label),
                pl.col("price").alias(price),
                pl.col("reason").alias(reason),
            ),
            on="customer_code",
            how="left",
        )
    return out.select(COLUMNS).sort("customer_code")


def _write(frame: pl.DataFrame, path: Path, fmt: str, layout: Layout) -> None:
    """Write ``frame`` under the layout's names to ``path`` atomically (a temporary file renamed)."""
    frame = frame.rename(layout.rename(frame.columns))
    tmp = path.with_name(f".{path.name}.tmp")
    if fmt == "csv":
        frame.write_csv(tmp, separator=layout.separator, float_precision=2, line_terminator="\n")
    elif fmt == "parquet":
        frame.write_parquet(tmp, statistics=False)
    else:
        import xlsxwriter

        with xlsxwriter.Workbook(str(tmp)) as workbook:
            workbook.set_properties({"created": XLSX_CREATED})
            frame.write_excel(workbook, worksheet="contacts", autofit=False)
    os.replace(tmp, path)


def export_run(
    db: Database,
    run_id: str,
    out: Path,
    *,
    fmt: str = "csv",
    layout: str = "generic",
    as_of: dt.date | None = None,
    schema_prefix: str = "",
    marts: str | None = None,
) -> ExportSummary:
    """Write the run's treated, still eligible customers to ``out``; audit the others.
    ``marts``: where the ``customer`` and ``product`` marts are read, as ``reco score --marts``
    (``reco.scoring.marts.marts_source``)."""
    if fmt not in FORMATS:
        raise RecoError(f"--format {fmt!r}: expected one of {', '.join(FORMATS)}")
    if layout not in LAYOUTS:
        raise RecoError(f"--layout {layout!r}: expected one of {', '.join(LAYOUTS)}")
    out = Path(out)
    if not out.parent.is_dir():
        raise RecoError(f"{out}: no such folder {out.parent}")
    as_of = as_of or dt.date.today()
    source = marts_source(marts, marts_schema(schema_prefix))
    run = _literal(run_id)
    with adbc_connect(db) as conn:
        config = json.loads(
            require_run(conn, run_id, unless_succeeded="only a succeeded run is exported")["config"] or "{}"
        )
    rules = Eligibility(**config.get("eligibility", {}))
    customers, contacts = read_consent(db, exclude_run=run_id, marts=source)
    verdict = eligibility(customers, contacts, as_of, rules)
    with adbc_connect(db) as conn:
        fetch(conn, "set transaction isolation level repeatable read")
        groups = fetch(
            conn,
            f"""select rc.customer_code::text as customer_code, rc.scenario::text as scenario,
                   rc.grp::text as grp
            from reco.run_customer as rc
            where rc.run_id = {run}""",
        ).join(
            source.read(
                conn, "customer", {"customer_code": "text", "email": "text", "first_name": "text"}
            ).collect(),
            on="customer_code",
            how="left",
        )
        items = fetch(
            conn,
            f"""select i.customer_code::text as customer_code, i.scenario::text as scenario,
                   i.rank::int as rank, i.product_key::text as product_key,
                   i.reasons_json::text as reasons_json
            from reco.reco_item as i
            join reco.run_customer as rc using (run_id, customer_code)
            where i.run_id = {run} and rc.grp = 'treatment'""",
        )
        products = source.read(
            conn, "product", {"product_key": "text", "product_label": "text", "unit_price": "float8"}
        ).collect()
        treated = (
            groups.lazy()
            .filter(pl.col("grp") == "treatment")
            .join(verdict, on="customer_code", how="left")
            .with_columns(
                reason_code=pl.coalesce(
                    "reason_code", pl.when(pl.col("reasons").is_null()).then(pl.lit(UNKNOWN_CUSTOMER))
                )
            )
            .collect()
        )
        kept = treated.filter(pl.col("reason_code").is_null())
        left_out = treated.filter(pl.col("reason_code").is_not_null())
        status = treated.select(
            "customer_code",
            export_status=pl.when(pl.col("reason_code").is_null())
            .then(pl.lit("exported"))
            .otherwise(pl.lit("suppressed")),
        )
        audits = left_out.select(
            "customer_code",
            "reason_code",
            details_json=pl.struct(
                "scenario",
                pl.col("reasons"),
                pl.col("last_contact_date").cast(pl.String),
                as_of=pl.lit(as_of.isoformat()),
            ).struct.json_encode(),
        )
        with conn.cursor() as cur:
            cur.adbc_ingest("_export_status_in", status.to_arrow(), mode="create", temporary=True)
            cur.adbc_ingest("_export_audit_in", audits.to_arrow(), mode="create", temporary=True)
            cur.execute(f"delete from reco.audit_item where run_id = {run} and kind = '{EXPORT_KIND}'")
            cur.execute(
                f"""insert into reco.audit_item
                    (run_id, customer_code, kind, reason_code, severity, product_key, details_json)
                select {run}, customer_code, '{EXPORT_KIND}', reason_code, 'info', null,
                    details_json::json
                from _export_audit_in"""
            )
            cur.execute(
                f"""update reco.run_customer as rc set export_status = s.export_status
                from _export_status_in as s
                where rc.run_id = {run} and rc.customer_code = s.customer_code"""
            )
        _write(_rows(kept, items, products), out, fmt, LAYOUTS[layout])
        conn.commit()
    by_reason = dict(left_out.group_by("reason_code").len().sort("reason_code").iter_rows())
    return ExportSummary(
        run_id,
        out,
        fmt,
        layout,
        as_of,
        kept.height,
        by_reason,
        groups.filter(pl.col("grp") == "control").height,
    )
