"""``reco load``: land client exports (customers, sales, products, aliases, contacts) in raw."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer
from rich.table import Table

from reco.cli._common import Steps, console, database, err_console, print_json
from reco.errors import RecoError
from reco.ingest import ENTITIES, LoadFailed, LoadOptions, LoadReport, load_files
from reco.ingest.parquet import RECO_FOLDER, export_landed, export_sources
from reco.lake import is_uri

app = typer.Typer(
    help="Load export files (CSV, Parquet, XLSX) into the raw schema: validated, de-duplicated, "
    "one transaction per batch. See docs/ingestion.md.",
    no_args_is_help=True,
)


def summary_table(report: LoadReport) -> Table:
    """Rows read, loaded, rejected, duplicates skipped and seconds, per file and in total."""
    table = Table(title=f"reco load {report.entity}: batch {report.batch_id} ({report.status})")
    table.add_column("file", overflow="fold")
    for name in ("read", "loaded", "rejected", "duplicates", "seconds"):
        table.add_column(name, justify="right")
    table.add_column("note", overflow="fold")
    for f in report.files:
        if f.already_loaded_in:
            note = f"already loaded in {f.already_loaded_in}"
        elif f.format == "csv":
            note = f"csv {f.encoding} ({f.encoding_chosen_by}) {f.delimiter!r}"
        else:
            note = f.format
        if f.compression:
            note = f"{f.compression}: {f.member + ', ' if f.member else ''}{note}"
        table.add_row(
            Path(f.path).name,
            f"{f.rows_read:,}",
            f"{f.loaded:,}",
            f"{f.rejected:,}",
            f"{f.duplicates:,}" + ("" if f.balanced or report.status == "failed" else " (≠)"),
            f"{f.seconds:.2f}",
            note,
        )
    table.add_section()
    table.add_row(
        "total",
        f"{report.rows_read:,}",
        f"{report.loaded:,}",
        f"{report.rejected:,}",
        f"{report.duplicates:,}",
        f"{report.seconds:.2f}",
        "failed: nothing loaded" if report.status == "failed" else "read = loaded + rejected + duplicates",
        style="bold",
    )
    return table


def reasons_table(report: LoadReport) -> Table | None:
    """Rejected rows by reason code (a row with two reasons counts under each)."""
    if not report.rejected_by_reason:
        return None
    table = Table(title="rejected by reason")
    table.add_column("reason")
    table.add_column("rows", justify="right")
    for reason, n in report.rejected_by_reason.items():
        table.add_row(reason, f"{n:,}")
    return table


def print_report(report: LoadReport, out=console) -> None:
    out.print(summary_table(report))
    reasons = reasons_table(report)
    if reasons is not None:
        out.print(reasons)
    print_rejects(report, out)
    for warning in report.warnings:
        out.print(f"warning: {warning}", markup=False, highlight=False, soft_wrap=True)


def print_rejects(report: LoadReport, out=console) -> None:
    if not report.sample_rejects:
        return
    out.print(
        f"first rejected rows ({len(report.sample_rejects)} of {report.rejected:,}):",
        highlight=False,
    )
    for r in report.sample_rejects:
        out.print(
            f"  {Path(r.source_file).name} row {r.source_row}: {', '.join(r.reason_codes)} — {r.details}",
            markup=False,
            highlight=False,
            soft_wrap=True,
        )


def _run(
    entity: str,
    files: list[Path],
    batch_id,
    mapping,
    encoding,
    date_format,
    max_reject_rate,
    reload,
    as_json: bool,
    parquet: str | None = None,
) -> None:
    options = LoadOptions(
        batch_id=batch_id,
        mapping=mapping,
        encoding=encoding,
        date_format=date_format,
        max_reject_rate=max_reject_rate,
        reload=reload,
        parquet=local_or_uri(parquet, "--parquet"),
    )
    db = database()
    try:
        with Steps(1) as shown, shown.step(f"load {entity} ({len(files)} file{'s' * (len(files) > 1)})"):
            report = load_files(db, entity, files, options, on_progress=shown.load)
    except LoadFailed as exc:
        if exc.report.files:
            print_report(exc.report, err_console)
        raise
    if as_json:
        print_json(report.as_json())
        return
    print_report(report)
    console.print(report.message, highlight=False)


Files = Annotated[
    list[Path],
    typer.Argument(
        exists=True,
        dir_okay=False,
        readable=True,
        help="Export files (CSV, Parquet or XLSX), one batch.",
        show_default=False,
    ),
]
BatchId = Annotated[
    str | None, typer.Option("--batch-id", help="Batch id (default: <entity>-<UTC time>-<random>).")
]
MappingOpt = Annotated[
    str | None,
    typer.Option(
        "--mapping",
        help="Mapping file (TOML), or the name of a shipped mapping (online_retail_ii).",
    ),
]
Encoding = Annotated[
    str | None,
    typer.Option("--encoding", help="Force the CSV encoding (utf-8, utf-8-sig, cp1252, latin-1)."),
]
DateFormat = Annotated[
    str | None,
    typer.Option("--date-format", help="Force the date format of every date column, e.g. %d/%m/%Y."),
]
MaxRejectRate = Annotated[
    float | None,
    typer.Option(
        "--max-reject-rate",
        help="Fail the whole batch (nothing loaded) above this rejected/read fraction.",
    ),
]
Reload = Annotated[
    bool, typer.Option("--reload", help="Process files again even if already loaded (same sha256).")
]
AsJson = Annotated[bool, typer.Option("--json", help="Print the batch's report as JSON.")]
ParquetRoot = Annotated[
    str | None,
    typer.Option(
        "--parquet",
        help="Also land the batch as Parquet in PATH/<raw table>/<batch id>.parquet for a warehouse"
        " on Spark; sales lines land there only. PATH is a folder or an object-store URI"
        " (s3://bucket/prefix; see docs/ingestion.md).",
        metavar="PATH|URI",
    ),
]


def local_or_uri(root: str | None, what: str) -> str | Path | None:
    """An object-store URI (``s3://…``) as given, or a local folder as a ``Path`` (refused if
    it is a file)."""
    if root is None or is_uri(root):
        return root
    if Path(root).exists() and not Path(root).is_dir():
        raise RecoError(f"{what} {root}: not a directory")
    return Path(root)


def _command(entity: str):
    def command(
        files: Files,
        batch_id: BatchId = None,
        mapping: MappingOpt = None,
        encoding: Encoding = None,
        date_format: DateFormat = None,
        max_reject_rate: MaxRejectRate = None,
        reload: Reload = False,
        as_json: AsJson = False,
        parquet: ParquetRoot = None,
    ) -> None:
        _run(
            entity, files, batch_id, mapping, encoding, date_format, max_reject_rate, reload, as_json, parquet
        )

    spec = ENTITIES[entity]
    required = ", ".join([*spec.required, *(" or ".join(group) for group in spec.one_of)])
    command.__doc__ = f"Load {entity} exports (required columns: {required}; see docs/ingestion.md)."
    return command


for _name in ENTITIES:
    app.command(_name)(_command(_name))


def export_sources_command(
    root: Annotated[
        str,
        typer.Argument(
            help="The root given to reco load --parquet (a folder or s3://bucket/prefix); the tables"
            " land in ROOT/reco/<table>/part-0.parquet.",
        ),
    ],
    raw: Annotated[
        bool,
        typer.Option(
            "--raw",
            help="Also write the raw tables landed in PostgreSQL as reco load --parquet lays them out"
            " (ROOT/<table>/<batch id>.parquet): a warehouse that moves to Spark with its history.",
        ),
    ] = False,
) -> None:
    """Write the platform's tables the dbt project reads (reco.reco_run, reco_item, contact_event
    …) as Parquet for a warehouse on Spark; run it before each Spark build (docs/scale.md)."""
    target = local_or_uri(root, "export-sources")
    db = database()
    if raw:
        if not isinstance(target, Path):
            raise RecoError(
                f"export-sources --raw: {root} is an object-store URI; --raw writes to a local folder"
                " only (copy the folder to the bucket afterwards)"
            )
        for table, n in export_landed(db, target).items():
            name = table.partition(".")[2]
            console.print(f"{target / name}: {n:,} rows", highlight=False)
    for table, n in export_sources(db, target).items():
        name = table.partition(".")[2]
        where = target / RECO_FOLDER / name if isinstance(target, Path) else f"{target}/{RECO_FOLDER}/{name}"
        console.print(f"{where}: {n:,} rows", highlight=False)
