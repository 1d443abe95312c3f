"""What a database target is: a checked PostgreSQL URL, where it came from, and the views of it
that drivers and libpq clients need (conninfo, PG* variables, a password file).

:mod:`reco.db.resolver` decides which target reco talks to; :mod:`reco.db.engine` opens
connections to it. This module opens none, so both can import it.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from pathlib import Path

from sqlalchemy.engine import URL, make_url
from sqlalchemy.exc import ArgumentError

from reco.db.embedded import EmbeddedServer
from reco.errors import RecoError
from reco.settings import get_settings

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


def write_passfile(db: Database) -> Path | None:
    """A libpq password file (mode 0600) under RECO_HOME, so that the password is never put in
    an environment variable, a command line or anything printed."""
    if not db.url.password:
        return None
    home = get_settings().home()
    home.mkdir(mode=0o700, parents=True, exist_ok=True)
    path = home / "pgpass"
    esc = lambda v: str(v).replace("\\", "\\\\").replace(":", "\\:")  # noqa: E731
    line = ":".join(esc(v) for v in (db.host, db.port, db.url.database, db.url.username or "postgres"))
    path.touch(mode=0o600, exist_ok=True)
    path.chmod(0o600)
    path.write_text(f"{line}:{esc(db.url.password)}\n")
    return path
