"""The one place that decides which PostgreSQL server reco talks to.

Precedence: ``--database-url`` > ``DATABASE_URL`` in the environment > ``DATABASE_URL`` in
``.env`` > the embedded server under ``RECO_HOME``. The CLI, Alembic's env.py, dbt (through
``reco db env``) and the tests all come through here.
"""

from __future__ import annotations

import os
import re
from dataclasses import dataclass, field
from pathlib import Path

from sqlalchemy.engine import URL, make_url
from sqlalchemy.exc import ArgumentError

from reco.db.embedded import EmbeddedServer
from reco.errors import RecoError
from reco.settings import Settings, get_settings

_SCHEMES = {"postgres", "postgresql", "postgresql+psycopg", "postgresql+psycopg2", "postgresql+psycopg3"}
_PASSWORD_IN_URL = re.compile(r"(?P<head>[a-z0-9+.-]+://[^:/@?#]*:)(?P<pw>[^@/?#]*)(?P<tail>@)", re.I)
_PASSWORD_IN_QUERY = re.compile(r"(?P<head>[?&]password=)(?P<pw>[^&]*)", re.I)


def mask_url(text: str) -> str:
    """Replace any password inside a URL (userinfo or ``?password=``) with ``***``."""
    text = _PASSWORD_IN_URL.sub(lambda m: f"{m['head']}***{m['tail']}" if m["pw"] else m[0], text)
    return _PASSWORD_IN_QUERY.sub(lambda m: f"{m['head']}***", text)


def parse_url(raw: str, origin: str) -> URL:
    """Parse and normalise a PostgreSQL URL to the psycopg 3 driver, or raise one clear error."""
    expected = "expected postgresql://user@host:port/dbname (password optional)"
    try:
        url = make_url(raw.strip())
    except (ArgumentError, ValueError):
        raise RecoError(f"malformed database URL from {origin} ({mask_url(raw)}): {expected}") from None
    if url.drivername not in _SCHEMES:
        raise RecoError(f"unsupported database URL scheme '{url.drivername}' from {origin}: {expected}")
    if not url.database:
        raise RecoError(f"database URL from {origin} names no database: {expected}")
    try:
        port = url.port
    except ValueError:
        port = -1
    if port is not None and not 0 < port < 65536:
        raise RecoError(f"malformed port in database URL from {origin}: {expected}")
    return url.set(drivername="postgresql+psycopg")


@dataclass(frozen=True)
class Database:
    """A resolved server and database."""

    url: URL
    origin: str  # "--database-url" | "DATABASE_URL" | ".env" | "embedded"
    embedded: EmbeddedServer | None = field(default=None, compare=False)

    # -- views of the same target -----------------------------------------------------------
    @property
    def host(self) -> str:
        return self.url.host or str(self.url.query.get("host", "")) or "localhost"

    @property
    def port(self) -> int:
        return self.url.port or int(self.url.query.get("port", 5432))

    @property
    def masked(self) -> str:
        return self.url.render_as_string(hide_password=True)

    def libpq_env(self, passfile: Path | None = None) -> dict[str, str]:
        """PG* variables for libpq clients (psql, pg_dump, dbt's profile). The password is
        passed through a pgpass file, never as a value in the environment printed to users."""
        env = {
            "PGHOST": self.host,
            "PGPORT": str(self.port),
            "PGUSER": self.url.username or "postgres",
            "PGDATABASE": self.url.database or "postgres",
        }
        if passfile is not None:
            env["PGPASSFILE"] = str(passfile)
        return env

    def conninfo(self) -> str:
        """A libpq URI with the password, for drivers (ADBC, psycopg). Never print it."""
        return self.url.set(drivername="postgresql").render_as_string(hide_password=False)

    def for_database(self, name: str) -> Database:
        return Database(self.url.set(database=name), self.origin, self.embedded)


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
        from reco.db.engine import ensure_database

        ensure_database(db)
    return db
