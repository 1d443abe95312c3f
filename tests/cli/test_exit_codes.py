"""Exit codes a script can use, and errors as JSON on stdout with ``--json``:
0 success, 1 a user or data error, 2 a usage error, 3 an internal error (README, "Exit codes").
An interruption (128 + the signal) is tested in tests/faults."""

from __future__ import annotations

import json

from tests.cli.helpers import run_cli


def _json_error(out: str) -> dict:
    return json.loads(out.strip().splitlines()[-1])["error"]


def test_a_usage_error_exits_2_and_says_so_in_json(capsys):
    result = run_cli(capsys, "score", "--no-such-flag", "--json")
    assert result.code == 2
    assert "No such option: --no-such-flag" in result.err
    assert _json_error(result.out) == {
        "code": 2,
        "kind": "usage",
        "message": "No such option: --no-such-flag",
    }


#: a server nothing listens on: a command that fails before connecting never needs one
NOWHERE = "postgresql://bob@127.0.0.1:1/crm"


def test_a_user_error_exits_1_with_one_line_and_its_json(capsys):
    result = run_cli(capsys, "--database-url", NOWHERE, "score", "--run-id", "no spaces", "--json")
    assert result.code == 1
    assert result.err.strip().splitlines() == [
        "error: invalid run id 'no spaces': expected 1-128 letters, digits, '.', '_', ':' or '-',"
        " starting with a letter or digit"
    ]
    error = _json_error(result.out)
    assert error["code"] == 1 and error["kind"] == "user" and "run id" in error["message"]


def test_a_bad_date_is_a_usage_error_naming_the_option(capsys):
    result = run_cli(capsys, "backtest", "--cutoff", "31/12/2024", "--json")
    assert result.code == 2
    error = _json_error(result.out)
    assert error["kind"] == "usage"
    assert error["message"].startswith("Invalid value for '--cutoff'")
    assert "'31/12/2024' does not match the formats '%Y-%m-%d'" in error["message"]


def test_without_json_nothing_goes_to_stdout(capsys):
    result = run_cli(capsys, "backtest", "--cutoff", "31/12/2024")
    assert result.code == 2 and result.out == ""


def test_an_unreachable_server_is_a_database_error_exit_1(capsys):
    url = "postgresql://bob:s3cret@127.0.0.1:1/crm"
    result = run_cli(capsys, "--database-url", url, "score", "--run-id", "r1", "--json")
    assert result.code == 1
    error = _json_error(result.out)
    assert error["kind"] == "database" and "127.0.0.1:1/crm" in error["message"]
    assert "reco db status" in error["message"] and "s3cret" not in result.out + result.err


def test_an_internal_error_exits_3_not_2(capsys, tmp_path, monkeypatch):
    # RECO_HOME names a file: nothing reco expects, an unexpected exception deep down
    home = tmp_path / "not-a-folder"
    home.write_text("")
    monkeypatch.delenv("DATABASE_URL", raising=False)
    monkeypatch.setenv("RECO_HOME", str(home))
    result = run_cli(capsys, "score", "--run-id", "r1", "--json")
    assert result.code == 3
    assert result.err.startswith("error: unexpected ") and "--verbose" in result.err
    assert _json_error(result.out)["kind"] == "internal"


def test_json_errors_are_for_reco_own_json_option_not_an_argument_passed_to_dbt():
    from reco.cli.main import _wants_json

    assert _wants_json(["--database-url", "postgresql://h/db", "score", "--run-id", "dbt", "--json"])
    assert not _wants_json(["--database-url", "postgresql://h/db", "dbt", "ls", "--json"])
    assert not _wants_json(["-v", "score", "--", "--json"])
