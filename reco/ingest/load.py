"""``load_files``: read, validate, de-duplicate and land one batch of exports (all or nothing)."""

from __future__ import annotations

import time
import uuid
from collections.abc import Callable
from dataclasses import asdict, dataclass
from datetime import UTC, datetime
from pathlib import Path

import polars as pl

from reco.db import migrate
from reco.db.resolver import Database
from reco.errors import RecoError
from reco.ingest import land
from reco.ingest.entities import Entity
from reco.ingest.entities import entity as get_entity
from reco.ingest.land import FILE_NO
from reco.ingest.mapping import Mapping, load_mapping
from reco.ingest.parse import DETAILS, KEY, REASONS, line_keys, row_key, typed_frame
from reco.ingest.read import RAW, ROW, SourceFile, check_file, read_file, sha256_of
from reco.ingest.report import FileReport, LoadFailed, LoadProgress, LoadReport, RejectedRow

SAMPLE_REJECTS = 20


@dataclass
class LoadOptions:
    batch_id: str | None = None
    #: A mapping file, or the name of a shipped mapping (``online_retail_ii``).
    mapping: str | Path | None = None
    encoding: str | None = None
    date_format: str | None = None
    #: Refuse the batch when rejected / read exceeds this fraction (0..1).
    max_reject_rate: float | None = None
    #: Process files again even when the same file (sha256) was already loaded.
    reload: bool = False


@dataclass
class _Parsed:
    report: FileReport
    valid: pl.DataFrame  # canonical columns + FILE_NO, source_row, KEY
    rejects: pl.DataFrame  # source_file, source_row, raw_text, reason_codes, details
    file_no: int  # position of the file in the batch (raw.load_file)


def new_batch_id(entity: str) -> str:
    return f"{entity}-{datetime.now(UTC):%Y%m%dT%H%M%S}-{uuid.uuid4().hex[:6]}"


def _parse_file(src: SourceFile, file_no: int, ent: Entity, mapping: Mapping, started: float) -> _Parsed:
    report = FileReport(
        path=str(src.path),
        sha256=src.sha256,
        bytes=src.bytes,
        format=src.format,
        encoding=src.encoding,
        encoding_chosen_by=src.encoding_chosen_by,
        encoding_detail=src.encoding_detail,
        delimiter=src.delimiter,
        compression=src.compression,
        member=src.member,
        content_sha256=src.content_sha256,
        warnings=list(src.warnings),
    )
    found = mapping.resolve_headers(ent, src.headers or [], str(src.path))
    raw_text = src.raw_text if src.records is not None else None
    good, bad = typed_frame(src.frame, ent, mapping, found, raw_text)
    path = pl.lit(str(src.path))
    rejects = pl.concat(
        [
            bad.select(
                source_file=path,
                source_row=pl.col(ROW),
                raw_text=pl.col(RAW),
                reason_codes=pl.col(REASONS),
                details=pl.col(DETAILS),
            ),
            src.ragged.select(
                source_file=path,
                source_row=pl.col(ROW),
                raw_text=pl.col(RAW),
                reason_codes=pl.lit(["ragged_row"]),
                details=pl.col("details"),
            ),
        ]
    ).sort("source_row")
    valid = good.select(*ent.columns, pl.lit(file_no, pl.Int16).alias(FILE_NO), source_row=pl.col(ROW))
    if ent.dedup == "line_key":
        valid = valid.with_columns(line_keys(valid))
    else:
        valid = valid.with_columns(row_key(ent.columns).alias(KEY))
    report.rows_read = src.rows_read
    report.rejected = rejects.height
    report.rejected_by_reason = (
        dict(
            rejects.select(pl.col("reason_codes").explode().value_counts(sort=True))
            .unnest("reason_codes")
            .iter_rows()
        )
        if rejects.height
        else {}
    )
    report.seconds = time.perf_counter() - started
    return _Parsed(report, valid, rejects, file_no)


def _sample(rejects: pl.DataFrame) -> list[RejectedRow]:
    return [
        RejectedRow(r["source_file"], r["source_row"], r["reason_codes"], r["details"])
        for r in rejects.head(SAMPLE_REJECTS).iter_rows(named=True)
    ]


def load_files(
    db: Database,
    entity: str,
    files: list[str | Path],
    options: LoadOptions | None = None,
    *,
    on_progress: Callable[[LoadProgress], None] | None = None,
) -> LoadReport:
    """Load one batch of export files of one entity into the raw schema.

    All rows of the batch land in one transaction, or none do. Returns the report; raises
    ``LoadFailed`` (a ``RecoError`` carrying the report) when the batch is refused: too many
    rejects, or a file that cannot be used (unreadable, unknown header, missing column…).
    Either way the batch is recorded in ``raw.load_batch``. Bad options (unknown entity or
    mapping, a rate outside 0..1) raise ``RecoError`` before anything is recorded.

    ``on_progress`` is told, as the batch goes, the files, bytes and rows read so far and what
    is being done (reading a file, landing the rows)."""
    options = options or LoadOptions()
    ent = get_entity(entity)
    if not files:
        raise RecoError("no file to load")
    if options.max_reject_rate is not None and not 0 <= options.max_reject_rate <= 1:
        raise RecoError(f"--max-reject-rate must be between 0 and 1, got {options.max_reject_rate}")
    mapping = load_mapping(options.mapping, ent).with_overrides(
        encoding=options.encoding, date_format=options.date_format
    )
    migrate.require_current(db)
    batch_id = options.batch_id or new_batch_id(ent.name)
    recorded_options = {
        "mapping": mapping.name,
        # how each derived column was made (lineage: doc_ref may be a customer-day basket)
        "derived": mapping.derivations_audit(),
        "encoding": options.encoding,
        "date_format": options.date_format,
        "max_reject_rate": options.max_reject_rate,
        "reload": options.reload,
    }
    started = time.perf_counter()
    report = LoadReport(batch_id=batch_id, entity=ent.name, status="succeeded")
    try:
        with land.transaction(db) as conn, conn.cursor() as cur:
            land.lock_entity(cur, ent)
            land.check_batch_id(cur, batch_id)
            _load(cur, ent, mapping, [Path(f) for f in files], options, report, on_progress)
            report.seconds = time.perf_counter() - started
            land.record_batch(
                cur,
                batch_id=batch_id,
                entity=ent,
                status=report.status,
                files=[f.as_json() for f in report.files],
                totals=_totals(report),
                options=recorded_options,
                seconds=report.seconds,
                error=None,
            )
    except RecoError as exc:
        report.status = "failed"
        report.error = report.error or str(exc)
        report.seconds = time.perf_counter() - started
        _record_failure(db, ent, report, recorded_options)
        if isinstance(exc, LoadFailed):
            raise
        raise LoadFailed(report) from exc
    return report


def _totals(report: LoadReport) -> dict:
    return {
        "rows_read": report.rows_read,
        "loaded": report.loaded,
        "rejected": report.rejected,
        "duplicates": report.duplicates,
    }


def _record_failure(db: Database, ent: Entity, report: LoadReport, options: dict) -> None:
    try:
        with land.transaction(db) as conn, conn.cursor() as cur:
            cur.execute(
                "delete from raw.load_batch where batch_id = %s and status = 'failed'",
                (report.batch_id,),
            )
            if land.fetch(cur, "select 1 from raw.load_batch where batch_id = %s", (report.batch_id,)):
                return  # the id belongs to another batch (that was the error)
            land.record_batch(
                cur,
                batch_id=report.batch_id,
                entity=ent,
                status="failed",
                files=[f.as_json() for f in report.files],
                totals=_totals(report),
                options=options,
                seconds=report.seconds,
                error=report.error,
            )
    except RecoError:
        pass  # the server is unreachable: the original error says so


def _sizes(paths: list[Path]) -> list[int]:
    return [p.stat().st_size if p.is_file() else 0 for p in paths]


def _load(
    cur,
    ent: Entity,
    mapping: Mapping,
    paths: list[Path],
    options: LoadOptions,
    report: LoadReport,
    on_progress: Callable[[LoadProgress], None] | None = None,
) -> None:
    sizes = _sizes(paths)

    def tell(files_done: int, doing: str) -> None:
        if on_progress is not None:
            rows = sum(f.rows_read for f in report.files)
            done = sum(sizes[:files_done])
            on_progress(LoadProgress(ent.name, files_done, len(paths), done, sum(sizes), rows, doing))

    known = {} if options.reload else land.loaded_files(cur, ent)
    parsed: list[_Parsed] = []
    for file_no, path in enumerate(paths, 1):
        tell(file_no - 1, f"reading {path.name}")
        t0 = time.perf_counter()
        check_file(path)
        digest, size = sha256_of(path)
        if digest in known:
            batch, rows = known[digest]
            report.files.append(
                FileReport(
                    path=str(path),
                    sha256=digest,
                    bytes=size,
                    format=path.suffix.lstrip(".") or "csv",
                    rows_read=rows,
                    duplicates=rows,
                    already_loaded_in=batch,
                    seconds=time.perf_counter() - t0,
                )
            )
            continue
        src = read_file(path, encoding=mapping.encoding, delimiter=mapping.delimiter, sha256=(digest, size))
        p = _parse_file(src, file_no, ent, mapping, t0)
        known[digest] = (report.batch_id, p.report.rows_read)
        parsed.append(p)
        report.files.append(p.report)
    tell(len(paths), "checked")
    if not parsed:
        report.status = "duplicate"
        return

    rejects = pl.concat([p.rejects for p in parsed])
    report.sample_rejects = _sample(rejects)
    considered = sum(p.report.rows_read for p in parsed)
    rate = report.rejected / considered if considered else 0.0
    if options.max_reject_rate is not None and rate > options.max_reject_rate:
        report.error = (
            f"{report.rejected:,} of {considered:,} rows rejected ({rate:.1%}), "
            "above --max-reject-rate "
            f"{options.max_reject_rate:g}; first: "
            + "; ".join(f"{r.source_file} row {r.source_row}: {r.details}" for r in report.sample_rejects[:3])
        )
        raise LoadFailed(report)

    # Duplicates inside the batch (the same line in two files, or a repeated row): first wins.
    # (Within one file, sales line keys are unique by construction: their occurrence.)
    valid = pl.concat([p.valid for p in parsed], how="vertical_relaxed")
    one_sales_file = ent.dedup == "line_key" and len(parsed) == 1
    unique = valid if one_sales_file else valid.filter(pl.col(KEY).is_first_distinct())
    candidates = dict(unique.group_by(FILE_NO).len().iter_rows())
    valid_rows = dict(valid.group_by(FILE_NO).len().iter_rows())
    tell(len(paths), f"landing {unique.height:,} rows")
    land.record_files(cur, report.batch_id, report.files)
    paths_by_no = {no: f.path for no, f in enumerate(report.files, 1)}
    if ent.dedup == "line_key":
        inserted = land.insert_sales(cur, ent, report.batch_id, unique)
    else:
        inserted = land.insert_rows(cur, ent, report.batch_id, unique.drop(KEY), paths_by_no)
    land.insert_rejects(cur, ent, report.batch_id, rejects)
    for p in parsed:
        f = p.report
        no = p.file_no
        f.loaded = inserted.get(no, 0)
        in_batch = valid_rows.get(no, 0) - candidates.get(no, 0)
        already_there = candidates.get(no, 0) - f.loaded
        f.duplicates = in_batch + already_there
        if not f.balanced:  # an invariant of the code, not an input error
            raise AssertionError(f"{f.path}: rows read != loaded + rejected + duplicates: {asdict(f)}")
