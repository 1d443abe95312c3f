"""SQLAlchemy models of every table Alembic owns, one module per schema."""

from reco.db.models import backtest, raw, reco
from reco.db.models.base import ALEMBIC_SCHEMAS, Base

__all__ = ["ALEMBIC_SCHEMAS", "Base", "backtest", "raw", "reco"]
