"""``reco load``: reading, validating and landing client exports into the raw schema.

Library entry point: ``load_files(db, entity, files, options) -> LoadReport``; the CLI
(``reco/cli/load.py``) only parses options and prints the report.
"""

from reco.ingest.entities import ENTITIES
from reco.ingest.load import LoadOptions, load_files
from reco.ingest.report import FileReport, LoadFailed, LoadProgress, LoadReport

__all__ = ["ENTITIES", "FileReport", "LoadFailed", "LoadOptions", "LoadProgress", "LoadReport", "load_files"]
