import json
import os
import stat
import subprocess
import sys

import psutil
import pytest
from sqlalchemy import text

from reco.db.engine import connect
from reco.settings import project_root
from tests.cli.helpers import run_cli


def _postgres_processes_for(pgdata) -> list[psutil.Process]:
    found = []
    for proc in psutil.process_iter(attrs=("name", "cmdline")):
        cmd = proc.info["cmdline"] or []
        if proc.info["name"] == "postgres" and str(pgdata) in " ".join(cmd):
            found.append(proc)
    return found


def test_embedded_start_status_stop_leaves_no_postgres_process(capsys, monkeypatch, tmp_path):
    monkeypatch.delenv("DATABASE_URL", raising=False)
    monkeypatch.chdir(tmp_path)
    home = tmp_path / "home"
    monkeypatch.setenv("RECO_HOME", str(home))

    started = run_cli(capsys, "db", "start")
    assert started.code == 0, started.err
    assert "embedded PostgreSQL running" in started.out
    assert _postgres_processes_for(home / "pgdata")

    status = run_cli(capsys, "db", "status")
    assert status.code == 0
    assert "embedded" in status.out and "16." in status.out

    stopped = run_cli(capsys, "db", "stop")
    assert stopped.code == 0 and "stopped" in stopped.out
    assert _postgres_processes_for(home / "pgdata") == []

    again = run_cli(capsys, "db", "stop")
    assert "was not running" in again.out
    assert json.loads(run_cli(capsys, "db", "stop", "--json").out) == {"embedded": True, "stopped": False}


def test_db_check_reports_server_version(capsys, use_db):
    result = run_cli(capsys, "db", "check")
    assert result.code == 0
    assert result.out.startswith("ok: PostgreSQL 1")


def test_db_init_is_idempotent_and_lists_the_tables(capsys, use_db):
    first = run_cli(capsys, "db", "init")
    second = run_cli(capsys, "db", "init")
    assert first.code == second.code == 0
    assert "✓ Database initialized successfully" in second.out
    for table in ("raw.sales_line", "reco.reco_run", "reco.reco_item", "reco.audit_item"):
        assert table in second.out


def test_db_sizes_lists_tables_of_every_schema(capsys, use_db):
    result = run_cli(capsys, "db", "sizes")
    assert result.code == 0
    assert "sales_line" in result.out and "reco_run" in result.out


def test_db_url_and_env_never_print_the_password(capsys, monkeypatch, tmp_path):
    monkeypatch.setenv("RECO_HOME", str(tmp_path))
    url = "postgresql://bob:s3cret-pw@db.example:6543/crm"
    shown = run_cli(capsys, "--database-url", url, "db", "url")
    assert shown.code == 0
    assert "s3cret-pw" not in shown.out and "bob:***@db.example:6543/crm" in shown.out

    exported = run_cli(capsys, "--database-url", url, "db", "env")
    assert exported.code == 0
    assert "s3cret-pw" not in exported.out
    assert "export PGHOST=db.example" in exported.out and "export PGPORT=6543" in exported.out
    passfile = tmp_path / "pgpass"
    assert f"export PGPASSFILE={passfile}" in exported.out
    assert stat.S_IMODE(passfile.stat().st_mode) == 0o600
    assert passfile.read_text().strip() == "db.example:6543:crm:bob:s3cret-pw"


def test_unreachable_server_is_one_clear_line_without_password(capsys):
    result = run_cli(capsys, "--database-url", "postgresql://bob:s3cret@127.0.0.1:1/x", "db", "check")
    assert result.code == 1
    lines = result.err.strip().splitlines()
    assert len(lines) == 1
    assert lines[0].startswith("error: cannot reach PostgreSQL at 127.0.0.1:1")
    assert "s3cret" not in result.err and "Traceback" not in result.err


def test_verbose_shows_the_traceback_still_masked(capsys):
    result = run_cli(
        capsys, "--verbose", "--database-url", "postgresql://bob:s3cret@127.0.0.1:1/x", "db", "check"
    )
    assert result.code == 1
    assert "Traceback" in result.err and "s3cret" not in result.err


def test_malformed_url_is_one_clear_line(capsys):
    result = run_cli(capsys, "--database-url", "postgresql://bob:s3cret@host:notaport/x", "db", "check")
    assert result.code == 1
    assert result.err.strip().startswith("error: malformed")
    assert "s3cret" not in result.err


LOAD_BATCH_ROW = text(
    "insert into raw.load_batch (batch_id, entity, status, files, rows_read, rows_loaded,"
    " rows_rejected, rows_duplicate, options)"
    " values ('b1', 'sales', 'succeeded', '[]', 3, 3, 0, 0, '{}')"
)


def test_backup_then_restore_brings_data_back(capsys, use_db, tmp_path):
    with connect(use_db) as conn:
        conn.execute(LOAD_BATCH_ROW)
    dump = tmp_path / "backup.dump"
    assert run_cli(capsys, "db", "backup", str(dump)).code == 0
    assert dump.stat().st_size > 0
    with connect(use_db) as conn:
        conn.execute(text("delete from raw.load_batch"))
    restored = run_cli(capsys, "db", "restore", str(dump))
    assert restored.code == 0, restored.err
    with connect(use_db) as conn:
        assert conn.execute(text("select batch_id from raw.load_batch")).scalars().all() == ["b1"]


def test_backup_is_readable_by_its_owner_only_even_over_an_older_open_file(capsys, use_db, tmp_path):
    fresh, older = tmp_path / "fresh.dump", tmp_path / "older.dump"
    older.write_bytes(b"an older dump")
    older.chmod(0o644)
    for dump in (fresh, older):
        result = run_cli(capsys, "db", "backup", str(dump))
        assert result.code == 0, result.err
        assert stat.S_IMODE(dump.stat().st_mode) == 0o600
        assert dump.read_bytes()[:5] == b"PGDMP"  # pg_dump's custom format, written whole


def test_restore_of_a_missing_file_is_a_clear_error(capsys, use_db, tmp_path):
    result = run_cli(capsys, "db", "restore", str(tmp_path / "nope.dump"))
    assert result.code == 2  # caught by the command line, before the database is touched
    assert "nope.dump' does not exist" in result.err


def test_plain_alembic_check_reports_no_drift(use_db):
    env = {**os.environ, "DATABASE_URL": use_db.conninfo()}
    proc = subprocess.run(
        [sys.executable, "-m", "alembic", "check"],
        cwd=project_root(),
        env=env,
        capture_output=True,
        text=True,
        check=False,
    )
    assert proc.returncode == 0, proc.stderr
    assert "No new upgrade operations detected" in proc.stdout + proc.stderr


@pytest.mark.parametrize("args", [["--help"], ["db", "--help"], ["dbt", "--help"], ["demo", "--help"]])
def test_every_command_group_has_help(capsys, args):
    result = run_cli(capsys, *args)
    assert result.code == 0
    assert "Usage" in result.out
