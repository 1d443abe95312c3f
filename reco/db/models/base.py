"""Declarative base shared by every Alembic-owned table."""

from sqlalchemy import MetaData
from sqlalchemy.orm import DeclarativeBase

NAMING_CONVENTION = {
    "ix": "ix_%(table_name)s_%(column_0_N_name)s",
    "uq": "uq_%(table_name)s_%(column_0_N_name)s",
    "ck": "ck_%(table_name)s_%(constraint_name)s",
    "fk": "fk_%(table_name)s_%(column_0_name)s_%(referred_table_name)s",
    "pk": "pk_%(table_name)s",
}

#: Schemas whose DDL Alembic owns. dbt builds everything else (staging, intermediate, marts…).
RAW_SCHEMA = "raw"
RECO_SCHEMA = "reco"
ALEMBIC_SCHEMAS = (RAW_SCHEMA, RECO_SCHEMA)
#: The durable tables the scorer reads consent from, beside dbt's marts (docs/scoring.md,
#: "Consent guarantees"): what a scorer must be allowed to read in Alembic's schemas.
CONSENT_SOURCES = (f"{RAW_SCHEMA}.customer", f"{RAW_SCHEMA}.contact", f"{RECO_SCHEMA}.contact_event")


class Base(DeclarativeBase):
    metadata = MetaData(naming_convention=NAMING_CONVENTION)


def include_name(name: str | None, type_: str, parent_names: dict) -> bool:
    """Alembic autogenerate filter: only the schemas Alembic owns, never dbt's."""
    if type_ == "schema":
        return name in ALEMBIC_SCHEMAS
    return True
