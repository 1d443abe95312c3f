"""The synthetic French wine merchant: catalogue, CRM, ERP and e-mailing exports as CSV files.

``generate(out_dir, customers, seed)`` writes them and returns a ``Manifest``; the files, their
dialects and the behaviours they contain are documented in docs/demo-data.md.
"""

from reco.demo_data.generate import (
    DEFAULT_CUSTOMERS,
    DEFAULT_END_DATE,
    DEFAULT_SEED,
    Dialect,
    Manifest,
    ManifestFile,
    ensure,
    generate,
)

__all__ = [
    "DEFAULT_CUSTOMERS",
    "DEFAULT_END_DATE",
    "DEFAULT_SEED",
    "Dialect",
    "Manifest",
    "ManifestFile",
    "ensure",
    "generate",
]
