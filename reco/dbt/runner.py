"""Run dbt against the resolved database, in a subprocess, with the environment that
``reco db env`` prints (plus PGPASSFILE when the URL carries a password).

The subprocess runs dbt's programmatic runner (reco/dbt/invoke.py), which reports each node as
it finishes over a pipe: ``run_dbt(..., on_node=...)`` receives them as :class:`NodeDone`."""

from __future__ import annotations

import ctypes
import json
import os
import signal
import subprocess
import sys
import tempfile
from collections.abc import Callable, Mapping, Sequence
from contextlib import ExitStack
from dataclasses import dataclass
from pathlib import Path

from reco.db.target import Database, write_passfile
from reco.dbt.invoke import EVENT_FD_ENV
from reco.errors import RecoError
from reco.settings import get_settings, project_root


def dbt_project_dir() -> Path:
    return project_root() / "dbt_project"


#: ``work_mem`` of every session dbt opens (libpq's PGOPTIONS). The models raise it in their
#: pre-hook (``var('work_mem')``), but data tests run no hook: without this, a test that groups
#: ten million ids (``unique``) hashes them in the server's default and spills to disk.
DBT_SESSION_OPTIONS = "-c work_mem=256MB"


def dbt_env(db: Database) -> dict[str, str]:
    """The variables a plain ``dbt`` or ``psql`` needs to reach ``db``, and the session settings
    of dbt's connections (``DBT_SESSION_OPTIONS``). (Plain ``alembic`` needs none: its env.py
    resolves the database exactly as reco does.)"""
    env = db.libpq_env(write_passfile(db))
    env["PGOPTIONS"] = DBT_SESSION_OPTIONS
    env["DBT_PROFILES_DIR"] = str(project_root())
    env["DBT_PROJECT_DIR"] = str(dbt_project_dir())
    # the spark target's own state (catalogue, intermediate tables, marts by default)
    env["RECO_SPARK_HOME"] = os.environ.get("RECO_SPARK_HOME") or str(get_settings().home() / "spark")
    return env


def dbt_executable() -> str:
    """The ``dbt`` console script next to this Python (for tests and plain-dbt checks)."""
    candidate = Path(sys.executable).with_name("dbt")
    return str(candidate) if candidate.exists() else "dbt"


def dbt_command() -> list[str]:
    """dbt's programmatic runner in a child Python (reco/dbt/invoke.py)."""
    return [sys.executable, "-m", "reco.dbt.invoke"]


@dataclass(frozen=True)
class NodeDone:
    """A node dbt has finished: the ``index``-th of ``total`` (dbt's own count), its resource
    type (model, seed, test, unit_test…), name, status (ok, error, pass, fail, warn, skipped)
    and seconds."""

    index: int
    total: int
    kind: str
    name: str
    status: str
    seconds: float


#: Environment variables the dbt project reads (macros as_of_date_literal and schema_prefix;
#: RECO_INCREMENTAL and RECO_INCREMENTAL_AFTER_ID, which only reco/dbt/incremental.py sets, let
#: order_line append and the customer-grain models recompute only the customers with new lines,
#: instead of being rebuilt). Passing them this way rather than with ``--vars`` keeps dbt's
#: partial parsing: a new as-of date re-parses one model instead of the whole project (a new
#: schema prefix still re-parses everything). Never inherited from the caller's environment:
#: only what the caller of ``run_dbt`` passes in ``project_env`` reaches dbt, so a stray export
#: cannot send a live build into a backtest's schemas.
PROJECT_ENV = ("RECO_AS_OF_DATE", "RECO_SCHEMA_PREFIX", "RECO_INCREMENTAL", "RECO_INCREMENTAL_AFTER_ID")


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
    cmd: list[str],
    *,
    cwd: Path,
    env: dict[str, str],
    capture: bool,
    on_node: Callable[[NodeDone], None] | None = None,
) -> subprocess.CompletedProcess:
    """Run ``cmd`` so that it never outlives this process: it dies with it (even on kill -9),
    and when this process is interrupted (Ctrl-C, or SIGTERM turned into an exception by the
    CLI) it is stopped and waited for before the interruption goes on. The child runs in its
    own process group, so a Ctrl-C in the terminal reaches it once, through :func:`_stop`.

    With ``on_node``, the child's node events are read from a pipe in this (the calling) thread
    and passed on as they come; captured output then goes through temporary files, so that a
    chatty child never blocks on a full pipe while events are read."""
    with ExitStack() as stack:
        out = err = None
        if capture:
            out = stack.enter_context(tempfile.TemporaryFile())
            err = stack.enter_context(tempfile.TemporaryFile())
        events_r = events_w = None
        if on_node is not None:
            events_r, events_w = os.pipe()
            env = {**env, EVENT_FD_ENV: str(events_w)}
        try:
            proc = subprocess.Popen(
                cmd,
                cwd=cwd,
                env=env,
                stdout=out,
                stderr=err,
                pass_fds=() if events_w is None else (events_w,),
                preexec_fn=_die_with_parent(os.getpid(), _libc()),
                process_group=0,
            )
        finally:
            if events_w is not None:
                os.close(events_w)  # the child holds its own copy: EOF when it exits
        with proc:
            try:
                if events_r is not None:
                    with os.fdopen(events_r, encoding="utf-8") as events:
                        events_r = None
                        for line in events:
                            on_node(NodeDone(**json.loads(line)))
                proc.wait()
            except BaseException:
                _stop(proc)
                raise
            finally:
                if events_r is not None:
                    os.close(events_r)
        texts = []
        for f in (out, err):
            if f is None:
                texts.append(None)
            else:
                f.seek(0)
                texts.append(f.read().decode("utf-8", errors="replace"))
    return subprocess.CompletedProcess(cmd, proc.returncode, *texts)


def run_dbt(
    db: Database,
    args: Sequence[str],
    *,
    capture: bool = False,
    project_env: Mapping[str, str] | None = None,
    on_node: Callable[[NodeDone], None] | None = None,
) -> subprocess.CompletedProcess:
    """Run ``dbt ARGS`` in the project folder; raise RecoError when dbt fails.

    ``on_node`` is called, in the calling thread, with each node as dbt finishes it (models,
    seeds, tests…), e.g. to show progress.

    ``project_env`` sets the project's own environment variables (``PROJECT_ENV``), e.g.
    ``{"RECO_AS_OF_DATE": "2011-08-31", "RECO_SCHEMA_PREFIX": "bt_x_"}``."""
    unknown = sorted(set(project_env or {}) - set(PROJECT_ENV))
    if unknown:
        raise RecoError(f"run_dbt: unknown project variable(s) {', '.join(unknown)}")
    env = {k: v for k, v in os.environ.items() if k not in PROJECT_ENV}
    env.update(dbt_env(db))
    env.update(project_env or {})
    env.pop("PGPASSWORD", None)
    proc = _run_tied_to_parent(
        [*dbt_command(), *args], cwd=dbt_project_dir(), env=env, capture=capture, on_node=on_node
    )
    if proc.returncode != 0:
        tail = ""
        if capture:
            tail = "\n" + "\n".join(((proc.stdout or "") + (proc.stderr or "")).splitlines()[-30:])
        raise RecoError(f"dbt {' '.join(args[:1])} failed with exit code {proc.returncode}{tail}")
    return proc
