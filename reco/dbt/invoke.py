"""The dbt child process of :func:`reco.dbt.runner.run_dbt`: ``python -m reco.dbt.invoke ARGS``.

It runs dbt through its programmatic runner (``dbtRunner``) with an event callback, and writes
one JSON line per finished node (model, seed, snapshot, test, unit test, skip) to the file
descriptor named by ``RECO_DBT_EVENT_FD``, when set. dbt's own output is untouched.

dbt runs in a child process rather than in reco's own: dbtRunner is not safe for concurrent
invocations in one process, dbt reads the project's variables from the process environment
(``env_var``), and a child can be stopped and killed with reco (reco/dbt/runner.py).
Exit codes are dbt's: 0 success, 1 a node failed, 2 dbt itself failed (bad option, no database…).
"""

from __future__ import annotations

import json
import os
import sys
from collections.abc import Callable
from typing import IO

#: The environment variable naming the descriptor events are written to.
EVENT_FD_ENV = "RECO_DBT_EVENT_FD"

#: dbt's events for a node that has finished, each with its index out of a total
#: (dbt/events/types.py); between them they cover every node of a build, exposures included.
RESULT_EVENTS = frozenset(
    {
        "LogModelResult",
        "LogSeedResult",
        "LogSnapshotResult",
        "LogTestResult",
        "LogFunctionResult",
        "LogFreshnessResult",
        "LogNodeNoOpResult",
        "SkippingDetails",
        "LogSkipBecauseError",
    }
)


def _status(name: str, data) -> str:
    if name in ("SkippingDetails", "LogSkipBecauseError"):
        return "skipped"
    if name == "LogNodeNoOpResult":
        return "no-op"
    if name in ("LogTestResult", "LogFreshnessResult"):
        return data.status  # pass, fail, warn, error (runtime error for freshness)
    return "error" if data.status == "error" else "ok"


def node_event(msg) -> dict | None:
    """The JSON-able facts of a finished-node event: index, total, resource type, name, status
    and seconds; ``None`` for any other event."""
    name = msg.info.name
    if name not in RESULT_EVENTS:
        return None
    data = msg.data
    node = getattr(data, "node_info", None)
    return {
        "index": int(data.index),
        "total": int(data.num_models if name == "LogTestResult" else data.total),
        "kind": (node.resource_type if node else "") or getattr(data, "resource_type", "") or "node",
        "name": (node.node_name if node else "") or getattr(data, "relation", "") or "",
        "status": _status(name, data),
        "seconds": round(float(getattr(data, "execution_time", 0.0)), 3),
    }


def forward_to(out: IO[str]) -> Callable:
    def callback(msg) -> None:
        event = node_event(msg)
        if event is not None:
            out.write(json.dumps(event) + "\n")
            out.flush()

    return callback


def main(args: list[str]) -> int:
    from dbt.cli.main import dbtRunner

    fd = os.environ.get(EVENT_FD_ENV)
    out = os.fdopen(int(fd), "w", encoding="utf-8") if fd else None
    try:
        runner = dbtRunner(callbacks=[forward_to(out)] if out else [])
        result = runner.invoke(args)
    finally:
        if out is not None:
            out.close()
    if result.success:
        return 0
    if result.exception is not None:
        print(f"dbt: {result.exception}", file=sys.stderr)
        return 2
    return 1


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
