"""SQLAlchemy models of every table Alembic owns, one module per area."""

from reco.db.models import backtest, raw, reco
from reco.db.models.base import ALEMBIC_SCHEMAS, Base, include_name

__all__ = ["ALEMBIC_SCHEMAS", "Base", "backtest", "include_name", "raw", "reco"]
