from sqlalchemy import text

from reco.db.engine import connect
from tests.cli.helpers import run_cli


def test_demo_migrates_builds_the_warehouse_and_prints_a_status_table(capsys, use_db):
    result = run_cli(capsys, "demo")
    assert result.code == 0, result.err
    assert "warehouse at revision" in result.out
    with connect(use_db) as conn:
        schemas = set(conn.execute(text("select schema_name from information_schema.schemata")).scalars())
    assert {"raw", "reco", "staging"} <= schemas
