"""Run dbt against the resolved database, in a subprocess, with the environment that
``reco db env`` prints (plus PGPASSFILE when the URL carries a password)."""

from __future__ import annotations

import ctypes
import os
import signal
import subprocess
import sys
from collections.abc import Mapping, Sequence
from pathlib import Path

from reco.db.target import Database, write_passfile
from reco.errors import RecoError
from reco.settings import project_root


def dbt_project_dir() -> Path:
    return project_root() / "dbt_project"


def dbt_env(db: Database) -> dict[str, str]:
    """The variables a plain ``dbt`` or ``psql`` needs to reach ``db``. (Plain ``alembic``
    needs none: its env.py resolves the database exactly as reco does.)"""
    env = db.libpq_env(write_passfile(db))
    env["DBT_PROFILES_DIR"] = str(project_root())
    env["DBT_PROJECT_DIR"] = str(dbt_project_dir())
    return env


def dbt_executable() -> str:
    candidate = Path(sys.executable).with_name("dbt")
    return str(candidate) if candidate.exists() else "dbt"


#: Environment variables the dbt project reads (macros as_of_date_literal and schema_prefix).
#: Passing them this way rather than with ``--vars`` keeps dbt's partial parsing: a new
#: as-of date re-parses one model instead of the whole project (a new schema prefix still
#: re-parses everything). Never inherited from the caller's environment: only what the
#: caller of ``run_dbt`` passes in ``project_env`` reaches dbt, so a stray export cannot send
#: a live build into a backtest's schemas.
PROJECT_ENV = ("RECO_AS_OF_DATE", "RECO_SCHEMA_PREFIX")


#: How long an interrupted dbt gets to cancel its queries and exit before it is killed.
STOP_GRACE_S = 15.0
_PR_SET_PDEATHSIG = 1


def _die_with_parent(parent_pid: int, libc: ctypes.CDLL | None):
    """A ``preexec_fn``: the child gets SIGKILL when its parent dies, even by SIGKILL (Linux
    ``prctl(PR_SET_PDEATHSIG)``); if the parent is already gone, it exits at once."""

    def preexec() -> None:
        if libc is not None:
            libc.prctl(_PR_SET_PDEATHSIG, signal.SIGKILL, 0, 0, 0)
        if os.getppid() != parent_pid:
            os._exit(1)

    return preexec


def _libc() -> ctypes.CDLL | None:
    if not sys.platform.startswith("linux"):
        return None
    return ctypes.CDLL(None, use_errno=True)


def _stop(proc: subprocess.Popen) -> None:
    """Ask an interrupted child to stop as a Ctrl-C would (dbt then cancels its running queries
    on the server), wait ``STOP_GRACE_S``, then kill it. Never returns with the child alive."""
    try:
        if proc.poll() is None:
            proc.send_signal(signal.SIGINT)
            proc.wait(timeout=STOP_GRACE_S)
    except subprocess.TimeoutExpired:
        pass
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()


def _run_tied_to_parent(
    cmd: list[str], *, cwd: Path, env: dict[str, str], capture: bool
) -> subprocess.CompletedProcess:
    """Run ``cmd`` so that it never outlives this process: it dies with it (even on kill -9),
    and when this process is interrupted (Ctrl-C, or SIGTERM turned into an exception by the
    CLI) it is stopped and waited for before the interruption goes on. The child runs in its
    own process group, so a Ctrl-C in the terminal reaches it once, through :func:`_stop`."""
    pipe = subprocess.PIPE if capture else None
    with subprocess.Popen(
        cmd,
        cwd=cwd,
        env=env,
        stdout=pipe,
        stderr=pipe,
        text=True,
        preexec_fn=_die_with_parent(os.getpid(), _libc()),
        process_group=0,
    ) as proc:
        try:
            out, err = proc.communicate()
        except BaseException:
            _stop(proc)
            raise
    return subprocess.CompletedProcess(cmd, proc.returncode, out, err)


def run_dbt(
    db: Database,
    args: Sequence[str],
    *,
    capture: bool = False,
    project_env: Mapping[str, str] | None = None,
) -> subprocess.CompletedProcess:
    """Run ``dbt ARGS`` in the project folder; raise RecoError when dbt fails.

    ``project_env`` sets the project's own environment variables (``PROJECT_ENV``), e.g.
    ``{"RECO_AS_OF_DATE": "2011-08-31", "RECO_SCHEMA_PREFIX": "bt_x_"}``."""
    unknown = sorted(set(project_env or {}) - set(PROJECT_ENV))
    if unknown:
        raise RecoError(f"run_dbt: unknown project variable(s) {', '.join(unknown)}")
    env = {k: v for k, v in os.environ.items() if k not in PROJECT_ENV}
    env.update(dbt_env(db))
    env.update(project_env or {})
    env.pop("PGPASSWORD", None)
    proc = _run_tied_to_parent([dbt_executable(), *args], cwd=dbt_project_dir(), env=env, capture=capture)
    if proc.returncode != 0:
        tail = ""
        if capture:
            tail = "\n" + "\n".join((proc.stdout or "").splitlines()[-30:])
        raise RecoError(f"dbt {' '.join(args[:1])} failed with exit code {proc.returncode}{tail}")
    return proc
