"""``load_files``: read, validate, de-duplicate and land one batch of exports (all or nothing)."""

from __future__ import annotations

import time
import uuid
from collections.abc import Callable, Iterator
from dataclasses import asdict, dataclass
from datetime import UTC, datetime
from pathlib import Path

import polars as pl

from reco.db import migrate
from reco.db.resolver import Database
from reco.errors import RecoError
from reco.ingest import land, parquet
from reco.ingest.entities import Entity
from reco.ingest.entities import entity as get_entity
from reco.ingest.land import FILE_NO
from reco.ingest.mapping import Mapping, load_mapping
from reco.ingest.parse import DETAILS, KEY, REASONS, FileStats, KeySet, LineKeys, row_key, typing
from reco.ingest.read import BLOCK_BYTES as BLOCK_BYTES_DEFAULT
from reco.ingest.read import RAW, ROW, Piece, SourceFile, check_file, read_file, sha256_of
from reco.ingest.report import FileReport, LoadFailed, LoadProgress, LoadReport, RejectedRow
from reco.ingest.stream import Pipeline

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
    #: Also land the batch as Parquet under this folder (sales lines there only; see
    #: ``reco.ingest.parquet``).
    parquet: str | Path | None = None


@dataclass
class _Parsed:
    report: FileReport
    rejects: pl.DataFrame  # source_file, source_row, raw_text, reason_codes, details
    file_no: int  # position of the file in the batch (raw.load_file)
    valid: pl.DataFrame | None = None  # canonical columns + FILE_NO, source_row, KEY (not sales)
    valid_rows: int = 0  # rows that passed the checks
    candidates: int = 0  # of which not already in an earlier file of the batch


def new_batch_id(entity: str) -> str:
    return f"{entity}-{datetime.now(UTC):%Y%m%dT%H%M%S}-{uuid.uuid4().hex[:6]}"


class _File:
    """One export being typed, whole or chunk by chunk (see ``parse.Typing``). Building it is
    the file's first pass (``SourceFile.pieces``): the whole-file decisions of its typing
    (``parse.FileStats``), its rows counted."""

    def __init__(self, src: SourceFile, file_no: int, ent: Entity, mapping: Mapping) -> None:
        self.src, self.file_no, self.ent = src, file_no, ent
        found = mapping.resolve_headers(ent, src.headers or [], str(src.path))
        stats = None
        for piece in src.pieces(last=False):
            if stats is None:
                stats = FileStats(piece.frame.schema, ent, mapping, found)
            stats.add(piece.frame)
        self.typing = typing(stats)
        self.report = FileReport(
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
            rows_read=src.rows_read,
        )
        self._rejects: list[pl.DataFrame] = []
        #: rows typed so far (``chunks``)
        self.typed = 0

    @property
    def rows(self) -> int:
        return self.src.rows

    def order_dates(self) -> tuple[object, object]:
        """The lowest and highest order date of the file's rows (sales; rejected rows
        included): a walk over the file before its chunks (a file read in blocks is parsed
        again, apart from the blocks its first pass kept)."""
        ranges = [self.typing.order_dates(piece.frame) for piece in self.src.pieces(last=False)]
        lows = [lo for lo, _ in ranges if lo is not None]
        highs = [hi for _, hi in ranges if hi is not None]
        return (min(lows) if lows else None, max(highs) if highs else None)

    def chunks(self, rows: int) -> Iterator[pl.DataFrame]:
        """The file's usable rows, at most ``rows`` at a time, in file order (at least one
        frame, maybe empty): canonical columns, FILE_NO and source_row (the failing ones are
        kept for ``parsed``)."""
        given = False
        for piece in self.src.pieces():
            frame = piece.frame
            for start in range(0, frame.height, rows):
                given = True
                yield self._chunk(piece, frame.slice(start, rows))
            if not given and frame.height == 0:
                given = True
                yield self._chunk(piece, frame)

    def _chunk(self, piece: Piece, frame: pl.DataFrame) -> pl.DataFrame:
        src = self.src
        raw_text = piece.raw_text if piece.records is not None else None
        good, bad = self.typing.apply(frame, raw_text)
        self.typed += frame.height
        self._rejects.append(
            bad.select(
                source_file=pl.lit(str(src.path)),
                source_row=pl.col(ROW),
                raw_text=pl.col(RAW),
                reason_codes=pl.col(REASONS),
                details=pl.col(DETAILS),
            )
        )
        return good.select(
            *self.ent.columns, pl.lit(self.file_no, pl.Int16).alias(FILE_NO), source_row=pl.col(ROW)
        )

    def parsed(self) -> _Parsed:
        """The file's rejects (checks failed, ragged records) in row order, and its report."""
        src = self.src
        ragged = src.ragged.select(
            source_file=pl.lit(str(src.path)),
            source_row=pl.col(ROW),
            raw_text=pl.col(RAW),
            reason_codes=pl.lit(["ragged_row"]),
            details=pl.col("details"),
        )
        rejects = pl.concat([*self._rejects, ragged]).sort("source_row")
        report = self.report
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
        return _Parsed(report, rejects, self.file_no)


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
    is being done (reading a file, landing its rows chunk by chunk); for sales it is called
    from the thread that reads the files."""
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
        "parquet": None if options.parquet is None else str(options.parquet),
    }
    started = time.perf_counter()
    report = LoadReport(batch_id=batch_id, entity=ent.name, status="succeeded")
    try:
        with (
            parquet.landing(options.parquet, batch_id) as out,
            land.transaction(db) as conn,
            conn.cursor() as cur,
        ):
            land.lock_entity(cur, ent)
            if out is not None:
                out.open(cur)
            land.check_batch_id(cur, batch_id)
            _load(cur, ent, mapping, [Path(f) for f in files], options, report, on_progress, out)
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
            if out is not None:
                out.seal(cur, ent)
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


#: Rows of a file typed, keyed and COPYed at a time by a sales load (see ``_stream_sales``).
STREAM_ROWS = 1 << 18
#: A CSV file larger than this is read in blocks of about this many bytes (``read.BLOCK_BYTES``;
#: a setting here so that tests can make blocks of a few rows).
BLOCK_BYTES = BLOCK_BYTES_DEFAULT


#: ``tell(files_done, doing)``: what a load reports as it goes (see ``_teller``)
Tell = Callable[[int, str], None]


def _teller(
    ent: Entity, paths: list[Path], report: LoadReport, on_progress: Callable[[LoadProgress], None] | None
) -> Tell:
    sizes = [p.stat().st_size if p.is_file() else 0 for p in paths]

    def tell(files_done: int, doing: str) -> None:
        if on_progress is not None:
            rows = sum(f.rows_read for f in report.files)
            done = sum(sizes[:files_done])
            on_progress(LoadProgress(ent.name, files_done, len(paths), done, sum(sizes), rows, doing))

    return tell


def _files(
    ent: Entity, mapping: Mapping, paths: list[Path], known: dict, report: LoadReport, tell: Tell
) -> Iterator[tuple[SourceFile, int, float]]:
    """The batch's files to read, in order: (the file read, its number, when its reading
    began). A file already loaded (same sha256) is reported as all duplicates and not read."""
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
        src = read_file(
            path,
            encoding=mapping.encoding,
            delimiter=mapping.delimiter,
            sha256=(digest, size),
            block_bytes=BLOCK_BYTES,
        )
        yield src, file_no, t0
        # (after the file was typed: a file read in blocks counts its rows on its first pass)
        known[digest] = (report.batch_id, src.rows_read)


def _load(
    cur,
    ent: Entity,
    mapping: Mapping,
    paths: list[Path],
    options: LoadOptions,
    report: LoadReport,
    on_progress: Callable[[LoadProgress], None] | None = None,
    out: parquet.ParquetLanding | None = None,
) -> None:
    tell = _teller(ent, paths, report, on_progress)
    known = {} if options.reload else land.loaded_files(cur, ent)
    if ent.dedup == "line_key":
        if out is not None:  # sales lines land in Parquet only
            landing = out.sales_landing(cur, ent, report.batch_id)
        else:
            landing = land.SalesLanding(cur, ent, report.batch_id)
        parsed = _stream_sales(landing, ent, mapping, paths, known, report, tell)
    else:
        parsed = []
        for src, file_no, t0 in _files(ent, mapping, paths, known, report, tell):
            f = _File(src, file_no, ent, mapping)
            valid = pl.concat(list(f.chunks(STREAM_ROWS)))
            p = f.parsed()
            p.valid = valid.with_columns(row_key(ent.columns).alias(KEY))
            p.report.seconds = time.perf_counter() - t0
            parsed.append(p)
            report.files.append(p.report)
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

    land.record_files(cur, report.batch_id, report.files)
    if ent.dedup == "line_key":
        landing.finish()
        inserted = landing.inserted
    else:
        # Duplicates inside the batch (the same row in two files, or a repeated row): first wins.
        valid = pl.concat([p.valid for p in parsed], how="vertical_relaxed")
        unique = valid.filter(pl.col(KEY).is_first_distinct())
        for p in parsed:
            p.valid_rows = p.valid.height
        candidates = dict(unique.group_by(FILE_NO).len().iter_rows())
        for p in parsed:
            p.candidates = candidates.get(p.file_no, 0)
        paths_by_no = {no: f.path for no, f in enumerate(report.files, 1)}
        tell(len(paths), f"landing {unique.height:,} rows")
        inserted = land.insert_rows(cur, ent, report.batch_id, unique.drop(KEY), paths_by_no)
    land.insert_rejects(cur, ent, report.batch_id, rejects)
    for p in parsed:
        f = p.report
        f.loaded = inserted.get(p.file_no, 0)
        in_batch = p.valid_rows - p.candidates
        already_there = p.candidates - f.loaded
        f.duplicates = in_batch + already_there
        if not f.balanced:  # an invariant of the code, not an input error
            raise AssertionError(f"{f.path}: rows read != loaded + rejected + duplicates: {asdict(f)}")


def _stream_sales(
    landing: land.SalesLanding,
    ent: Entity,
    mapping: Mapping,
    paths: list[Path],
    known: dict,
    report: LoadReport,
    tell: Tell,
) -> list[_Parsed]:
    """Read, type, validate and key a batch of sales files in chunks of ``STREAM_ROWS`` rows on
    a producer thread, while this thread COPYs the chunks before (``SalesLanding``), in the
    batch's one transaction. Each file's first pass takes its column decisions on all its rows
    (``parse.FileStats``; a large CSV file is read in blocks, ``read.SourceFile.pieces``); then,
    chunk by chunk: typing and checks, line keys (a
    running count of repeated lines, ``parse.LineKeys``), lines already in an earlier file of
    the batch removed (first file wins), then those already landed. Returns the files' rejects
    and counts; the lines are written when it returns (not yet committed)."""
    parsed: list[_Parsed] = []
    total_bytes = sum(p.stat().st_size for p in paths if p.is_file())

    def produce(pipe: Pipeline) -> None:
        in_batch = KeySet() if len(paths) > 1 else None  # keys of the batch's earlier lines
        for src, file_no, t0 in _files(ent, mapping, paths, known, report, tell):
            f = _File(src, file_no, ent, mapping)
            report.files.append(f.report)
            dates = f.order_dates() if landing.had_lines and f.rows else None
            busy = time.perf_counter() - t0
            batch_rows = f.rows * total_bytes // max(src.bytes, 1)
            landed = pipe.call(landing.start_file, f.rows, dates, batch_rows)
            keys = LineKeys()
            valid_rows = candidates = 0
            t = time.perf_counter()
            for lines in f.chunks(STREAM_ROWS):
                lines = lines.with_columns(keys(lines))
                valid_rows += lines.height
                if in_batch is not None:
                    if len(in_batch):
                        lines = lines.filter(~in_batch.contains(lines.get_column(KEY)))
                    in_batch.add(lines.get_column(KEY))
                candidates += lines.height
                if landed is not None and len(landed):
                    lines = lines.filter(~landed.contains(lines.get_column(KEY)))
                busy += time.perf_counter() - t
                pipe.put(lines)
                tell(file_no - 1, f"landing {src.path.name}: {f.typed:,} of {f.rows:,} rows")
                t = time.perf_counter()
            t = time.perf_counter()
            p = f.parsed()
            p.valid_rows, p.candidates = valid_rows, candidates
            p.report.seconds = busy + time.perf_counter() - t
            parsed.append(p)

    try:
        Pipeline().run(produce, landing.write)
    except BaseException as exc:
        landing.abort(exc)
        raise
    landing.end_copy()
    tell(len(paths), "landed")
    return parsed
