"""The one place that decides which PostgreSQL server reco talks to.

Precedence: ``--database-url`` > ``DATABASE_URL`` in the environment > ``DATABASE_URL`` in
``.env`` > the embedded server under ``RECO_HOME``. The CLI, Alembic's env.py, dbt (through
``reco db env``) and the tests all come through here.
"""

from __future__ import annotations

import os

from sqlalchemy.engine import URL

from reco.db.embedded import EmbeddedServer
from reco.db.engine import ensure_database
from reco.db.target import Database, parse_url
from reco.settings import Settings, get_settings


def _chosen_url(cli_url: str | None, settings: Settings) -> tuple[str | None, str]:
    if cli_url:
        return cli_url, "--database-url"
    if os.environ.get("DATABASE_URL"):
        return os.environ["DATABASE_URL"], "DATABASE_URL"
    if settings.database_url:
        return settings.database_url, ".env"
    return None, "embedded"


def resolve(cli_url: str | None = None, *, start: bool = True) -> Database:
    """Resolve the target database; start the embedded server on demand when ``start``."""
    settings = get_settings()
    raw, origin = _chosen_url(cli_url, settings)
    if raw is not None:
        return Database(parse_url(raw, origin), origin)
    server = EmbeddedServer(settings.home())
    state = server.start() if start else server.status()
    socket_dir = str(state.socket_dir) if state.socket_dir else str(server.pgdata)
    url = URL.create(
        "postgresql+psycopg",
        username="postgres",
        database=settings.reco_database,
        query={"host": socket_dir},
    )
    db = Database(url, origin, server)
    if start:
        ensure_database(db)
    return db
