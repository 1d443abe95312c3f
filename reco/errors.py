"""User-facing errors: the CLI prints their message on one line and exits non-zero."""


class RecoError(Exception):
    """An error the user can fix (bad input, unreachable server, bad configuration)."""

    exit_code = 1
