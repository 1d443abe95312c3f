import os
import subprocess
import sys
from pathlib import Path

from reco.settings import project_root
from tests.cli.helpers import run_cli

BIN = Path(sys.executable).parent


def test_plain_dbt_works_from_the_top_after_eval_reco_db_env(use_db):
    script = f'eval "$({BIN}/reco db env)" && {BIN}/dbt --no-use-colors debug --project-dir dbt_project'
    env = {**os.environ, "DATABASE_URL": use_db.conninfo()}
    for var in ("PGHOST", "PGPORT", "PGUSER", "PGDATABASE", "DBT_PROFILES_DIR"):
        env.pop(var, None)
    proc = subprocess.run(
        ["bash", "-c", script], cwd=project_root(), env=env, capture_output=True, text=True, check=False
    )
    assert proc.returncode == 0, proc.stdout[-2000:]
    assert "All checks passed!" in proc.stdout
    assert use_db.url.database in proc.stdout


def test_reco_dbt_passes_arguments_through_to_dbt(capsys, use_db):
    result = run_cli(capsys, "dbt", "run", "--select", "stg_raw__load_batches")
    assert result.code == 0
    import psycopg

    with psycopg.connect(use_db.conninfo()) as conn:
        kind = conn.execute(
            "select table_type from information_schema.tables"
            " where table_schema = 'staging' and table_name = 'stg_raw__load_batches'"
        ).fetchone()
    assert kind == ("VIEW",)


def test_failing_dbt_command_is_a_clear_error(capsys, use_db):
    result = run_cli(capsys, "dbt", "run", "--no-such-dbt-option")
    assert result.code == 1
    assert result.err.startswith("error: dbt run failed with exit code")
