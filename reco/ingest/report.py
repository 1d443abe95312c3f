"""What a load did, per file and per batch (returned by ``load_files``, printed by the CLI)."""

from __future__ import annotations

from collections import Counter
from dataclasses import asdict, dataclass, field

from reco.errors import RecoError


@dataclass
class RejectedRow:
    source_file: str
    source_row: int
    reason_codes: list[str]
    details: str


@dataclass
class FileReport:
    path: str
    sha256: str
    bytes: int
    format: str
    encoding: str | None = None
    #: "given" (--encoding or the mapping), "BOM" or "detected", and what the detection saw.
    encoding_chosen_by: str | None = None
    encoding_detail: str | None = None
    delimiter: str | None = None
    #: A compressed export: "gzip" or "zip", the file read inside a zip, and the sha256 of the
    #: decompressed bytes (``sha256`` is the file's as stored).
    compression: str | None = None
    member: str | None = None
    content_sha256: str | None = None
    #: Said without refusing the file, e.g. a file whose second half repeats its first.
    warnings: list[str] = field(default_factory=list)
    rows_read: int = 0
    loaded: int = 0
    rejected: int = 0
    duplicates: int = 0
    rejected_by_reason: dict[str, int] = field(default_factory=dict)
    #: Set when the same file (sha256) was already loaded: nothing of it is loaded again.
    already_loaded_in: str | None = None
    seconds: float = 0.0

    @property
    def balanced(self) -> bool:
        return self.rows_read == self.loaded + self.rejected + self.duplicates

    def as_json(self) -> dict:
        return asdict(self)


@dataclass(frozen=True)
class LoadProgress:
    """How far a batch has gone, told as it goes: ``files_done`` of ``files`` read and checked,
    their ``bytes_done`` of ``bytes`` and the ``rows`` read from them, and what happens now."""

    entity: str
    files_done: int
    files: int
    bytes_done: int
    bytes: int
    rows: int
    doing: str


@dataclass
class LoadReport:
    batch_id: str
    entity: str
    status: str  # succeeded | duplicate | failed
    files: list[FileReport] = field(default_factory=list)
    seconds: float = 0.0
    error: str | None = None
    #: The first rejected rows (all of them are in raw.reject for a landed batch).
    sample_rejects: list[RejectedRow] = field(default_factory=list)

    @property
    def rows_read(self) -> int:
        return sum(f.rows_read for f in self.files)

    @property
    def loaded(self) -> int:
        return sum(f.loaded for f in self.files)

    @property
    def rejected(self) -> int:
        return sum(f.rejected for f in self.files)

    @property
    def duplicates(self) -> int:
        return sum(f.duplicates for f in self.files)

    @property
    def warnings(self) -> list[str]:
        return [w for f in self.files for w in f.warnings]

    @property
    def rejected_by_reason(self) -> dict[str, int]:
        total: Counter = Counter()
        for f in self.files:
            total.update(f.rejected_by_reason)
        return dict(total.most_common())

    def as_json(self) -> dict:
        """The report as ``reco load --json`` prints it."""
        return {
            "batch_id": self.batch_id,
            "entity": self.entity,
            "status": self.status,
            "rows_read": self.rows_read,
            "loaded": self.loaded,
            "rejected": self.rejected,
            "duplicates": self.duplicates,
            "rejected_by_reason": self.rejected_by_reason,
            "seconds": round(self.seconds, 3),
            "error": self.error,
            "warnings": self.warnings,
            "files": [f.as_json() for f in self.files],
            "sample_rejects": [asdict(r) for r in self.sample_rejects],
        }

    @property
    def message(self) -> str:
        if self.status == "duplicate":
            return f"nothing new: every file was already loaded ({self.duplicates:,} rows skipped)"
        if self.status == "failed":
            return f"batch {self.batch_id} failed, nothing loaded: {self.error}"
        new = f"{self.loaded:,} rows loaded"
        if self.loaded == 0 and self.duplicates:
            new = "nothing new loaded"
        return (
            f"batch {self.batch_id}: {new}, {self.rejected:,} rejected, "
            f"{self.duplicates:,} duplicates skipped"
        )


class LoadFailed(RecoError):
    """A batch that was refused (too many rejects, a bad file): nothing of it is loaded. The
    report says which rows failed."""

    def __init__(self, report: LoadReport):
        super().__init__(report.batch_id)
        self.report = report

    def __str__(self) -> str:
        return self.report.message
