"""User-facing errors and interruptions: the CLI prints their message on one line and exits
with their code (see "Exit codes" in the README)."""

import signal


class RecoError(Exception):
    """An error the user can fix (bad input, unreachable server, bad configuration)."""

    exit_code = 1
    #: the ``kind`` of the JSON error object (``--json``)
    kind = "user"


class DatabaseError(RecoError):
    """The server refused a connection or dropped it: say where and what to do."""

    kind = "database"


class Interrupted(BaseException):
    """SIGTERM or SIGINT (Ctrl-C) arrived. A BaseException, as KeyboardInterrupt is, so that no
    ``except Exception`` swallows it; cleanups in ``finally`` and ``except BaseException`` run.
    Not a KeyboardInterrupt: Typer would turn that into a silent exit 130."""

    kind = "interrupted"

    def __init__(self, signum: int):
        self.signum = signum
        super().__init__(f"interrupted by {signal.Signals(signum).name}")

    @property
    def exit_code(self) -> int:
        """128 + the signal number, as a shell reports a process killed by it."""
        return 128 + self.signum
