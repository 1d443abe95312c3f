"""Run Alembic programmatically on a resolved database (``reco db init`` and the tests)."""

from __future__ import annotations

from alembic import command
from alembic.config import Config
from alembic.runtime.migration import MigrationContext
from alembic.script import ScriptDirectory
from sqlalchemy import inspect

from reco.db.engine import connect, make_engine
from reco.db.models import ALEMBIC_SCHEMAS
from reco.db.target import Database
from reco.errors import RecoError
from reco.settings import project_root


def alembic_config() -> Config:
    cfg = Config(str(project_root() / "alembic.ini"))
    cfg.set_main_option("script_location", str(project_root() / "alembic"))
    return cfg


def _with_connection(db: Database, fn) -> None:
    with connect(db) as conn:
        cfg = alembic_config()
        cfg.attributes["connection"] = conn
        fn(cfg)


def upgrade(db: Database, revision: str = "head") -> None:
    _with_connection(db, lambda cfg: command.upgrade(cfg, revision))


def downgrade(db: Database, revision: str = "base") -> None:
    _with_connection(db, lambda cfg: command.downgrade(cfg, revision))


def current_revision(db: Database) -> str | None:
    with connect(db) as conn:
        return MigrationContext.configure(conn).get_current_revision()


def head_revision() -> str | None:
    return ScriptDirectory.from_config(alembic_config()).get_current_head()


def require_current(db: Database) -> None:
    """Refuse to work on a database whose schema is not at the code's head revision, with one
    line saying what to run (instead of a "relation does not exist" deep inside a load)."""
    current, head = current_revision(db), head_revision()
    if current != head:
        state = "not initialised" if current is None else f"at revision {current}, the code expects {head}"
        raise RecoError(f"database {db.masked} is {state}: run `uv run reco db init` (alembic upgrade head)")


def owned_tables(db: Database) -> list[str]:
    """Tables in the Alembic-owned schemas, as ``schema.table``."""
    engine = make_engine(db)
    try:
        insp = inspect(engine)
        return [f"{s}.{t}" for s in ALEMBIC_SCHEMAS for t in sorted(insp.get_table_names(schema=s))]
    finally:
        engine.dispose()
