"""Run the real CLI in-process and capture what a user would see."""

from __future__ import annotations

from dataclasses import dataclass


@dataclass
class CliResult:
    code: int
    out: str
    err: str


def run_cli(capsys, *args: str) -> CliResult:
    from reco.cli.main import main

    capsys.readouterr()
    code = main(list(args))
    captured = capsys.readouterr()
    return CliResult(code, captured.out, captured.err)
