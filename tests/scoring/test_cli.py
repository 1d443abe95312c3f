"""The thin CLI: reco score, reco runs list/show, reco audit (in-process, real server)."""

from __future__ import annotations

import json

from reco.cli.main import main
from tests.scoring.conftest import AS_OF


def test_score_then_inspect_with_json(marts, capsys):
    assert main(["score", "--run-id", "c1", "--as-of", str(AS_OF), "--json"]) == 0
    scored = json.loads(capsys.readouterr().out)
    assert scored["status"] == "succeeded" and scored["counts"]["items"] > 0

    assert main(["runs", "list", "--json"]) == 0
    runs = json.loads(capsys.readouterr().out)
    assert [r["run_id"] for r in runs] == ["c1"]
    assert runs[0]["by_scenario"] == scored["counts"]["by_scenario"]

    assert main(["runs", "show", "c1", "--json"]) == 0
    shown = json.loads(capsys.readouterr().out)
    assert shown["status"] == "succeeded" and shown["scenarios"]

    assert main(["audit", "c1", "--json", "--limit", "3"]) == 0
    audit = json.loads(capsys.readouterr().out)
    assert len(audit["items"]) == 3 and audit["summary"]


def test_score_prints_a_generated_run_id_and_tables(marts, capsys):
    assert main(["score", "--as-of", str(AS_OF)]) == 0
    out = capsys.readouterr().out
    assert "run id: " in out and "eligible" in out
    assert main(["runs", "list"]) == 0 and "run id" in capsys.readouterr().out
    run_id = out.split("run id: ")[1].split()[0]
    assert main(["runs", "show", run_id]) == 0
    shown = capsys.readouterr().out
    # the rhythm and the self-validation choices the run made, with their window
    assert "horizon and rhythm" in shown and "lapsed_days" in shown
    assert "self-validation" in shown and "REPEAT" in shown
    # a sample of customers in words, and why each scenario that got nobody got nobody
    assert "a sample of customers, in words" in shown
    assert main(["runs", "show", run_id, "--json"]) == 0
    nobody = json.loads(capsys.readouterr().out)["nobody"]
    assert all(f"{s}: nobody — {why}" in shown for s, why in nobody.items())


def test_user_errors_are_one_line(marts, capsys):
    assert main(["score", "--run-id", "bad id"]) == 1
    assert "invalid run id 'bad id'" in capsys.readouterr().err
    # a date that is not one is refused by the command line itself (a usage error, exit 2)
    assert main(["score", "--as-of", "2026-13-01"]) == 2
    err = capsys.readouterr().err
    assert "Invalid value for '--as-of'" in err and "2026-13-01" in err
    assert main(["runs", "show", "missing"]) == 1
    assert "no run 'missing'" in capsys.readouterr().err
