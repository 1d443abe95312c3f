"""SQLAlchemy models of every table Alembic owns, one module per schema."""

from reco.db.models import raw, reco
from reco.db.models.base import ALEMBIC_SCHEMAS, Base, include_name

__all__ = ["ALEMBIC_SCHEMAS", "Base", "include_name", "raw", "reco"]
