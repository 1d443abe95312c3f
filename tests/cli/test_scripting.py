"""The scripting surface: --json on stdout and nothing else, one line per step outside a
terminal, conflicting flags refused, dates and paths checked by the command line, and no
``<bool>`` metavar in any help."""

from __future__ import annotations

import json

import pytest
import typer

from reco.cli.main import app
from tests.cli.helpers import run_cli

SALES = (
    "doc_ref,order_ts,customer_code,product_key,product_label,quantity,unit_price\n"
    "F1,2024-01-05 10:00,C1,P1,Chablis,1,12.5\n"
    "F2,2024-01-06 11:00,C2,P1,Chablis,3,12.5\n"
)


def _commands(command: typer.core.TyperGroup | typer.core.TyperCommand, path: tuple[str, ...] = ()):
    yield path
    for name, sub in getattr(command, "commands", {}).items():
        yield from _commands(sub, (*path, name))


def test_no_help_shows_a_bool_metavar(capsys):
    paths = list(_commands(typer.main.get_command(app)))
    assert ("load", "sales") in paths and ("db", "status") in paths
    for path in paths:
        result = run_cli(capsys, *path, "--help")
        assert result.code == 0, path
        assert "Usage" in result.out and "<bool>" not in result.out, (path, result.out)


def test_cutoff_and_cutoffs_together_are_refused(capsys):
    result = run_cli(capsys, "backtest", "--cutoff", "2011-06-01", "--cutoffs", "2011-09-01,2011-10-01")
    assert result.code == 2 and result.out == ""
    assert "Invalid value for '--cutoff' / '--cutoffs': give one of them, not both" in result.err


def test_a_bad_date_among_cutoffs_is_named(capsys):
    result = run_cli(capsys, "backtest", "--cutoffs", "2011-06-01,2011-13-01")
    assert result.code == 2
    assert "Invalid value for '--cutoffs'" in result.err and "'2011-13-01'" in result.err


def test_a_missing_file_and_a_folder_are_caught_by_the_command_line(capsys, tmp_path):
    missing = run_cli(capsys, "score", "--config", str(tmp_path / "nope.toml"))
    assert missing.code == 2 and "nope.toml' does not exist" in missing.err
    folder = run_cli(capsys, "load", "sales", str(tmp_path))
    assert folder.code == 2 and "is a directory" in folder.err


def test_demo_and_demo_data_share_one_default_size(capsys):
    from reco.demo_data import DEFAULT_CUSTOMERS

    for command in ("demo", "demo-data"):
        help_text = run_cli(capsys, command, "--help").out
        assert f"[default: {DEFAULT_CUSTOMERS}]" in help_text, command


def test_db_status_sizes_check_and_init_print_json_and_only_json(capsys, use_db):
    status = run_cli(capsys, "db", "status", "--json")
    assert status.code == 0
    facts = json.loads(status.out)
    assert facts["running"] is True and facts["revision"] == facts["head"] and facts["server"]
    sizes = run_cli(capsys, "db", "sizes", "--json")
    tables = {(t["schema"], t["table"]): t for t in json.loads(sizes.out)}
    assert tables[("raw", "sales_line")]["bytes"] >= 0
    check = json.loads(run_cli(capsys, "db", "check", "--json").out)
    assert check["ok"] is True and check["server"] == facts["server"]
    init = json.loads(run_cli(capsys, "db", "init", "--json").out)
    assert init["revision"] == facts["head"] and "raw.sales_line" in init["tables"]


def test_load_outside_a_terminal_prints_a_line_as_it_starts_and_ends_and_json_on_stdout(
    capsys, use_db, tmp_path
):
    f = tmp_path / "sales.csv"
    f.write_text(SALES)
    result = run_cli(capsys, "load", "sales", str(f), "--json", "--batch-id", "json-1")
    assert result.code == 0, result.err
    report = json.loads(result.out)  # stdout is the JSON and nothing else
    assert report["batch_id"] == "json-1" and report["loaded"] == 2 and report["files"][0]["rows_read"] == 2
    lines = result.err.splitlines()
    assert lines[0] == "[1/1] load sales (1 file) …"
    assert f"    sales: 0/1 files, 0.0 MB of 0.0 MB, 0 rows; reading {f.name}" in lines
    assert "    sales: 1/1 files, 0.0 MB of 0.0 MB, 2 rows; landing 2 rows" in lines
    assert lines[-1].startswith("[1/1] load sales (1 file): done in ") and lines[-1].endswith("s")


@pytest.mark.parametrize("failing", [True, False])
def test_steps_told_as_they_start_each_end_and_say_whether_they_failed(failing):
    from contextlib import nullcontext
    from io import StringIO

    from rich.console import Console

    from reco.cli._common import Steps

    out = StringIO()
    with (
        pytest.raises(ZeroDivisionError) if failing else nullcontext(),
        Steps(out=Console(file=out)) as shown,
    ):
        shown.say("first")
        shown.say("second")
        if failing:
            raise ZeroDivisionError
    first, first_end, second, second_end = out.getvalue().splitlines()
    assert (first, second) == ("first …", "second …")
    assert first_end.startswith("first: done in ")
    assert second_end.startswith("second: failed in " if failing else "second: done in ")
