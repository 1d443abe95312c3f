"""``reco demo``: the main job, end to end, on the embedded default."""

from __future__ import annotations

from rich.table import Table

from reco.cli._common import console, database, run_steps
from reco.db import migrate, ops
from reco.dbt.runner import run_dbt


def demo() -> None:
    """Start the database, migrate, build the dbt warehouse and print a status table."""
    db = database()
    console.print(f"[bold]database[/] {db.masked} ({db.origin})", highlight=False, soft_wrap=True)
    run_steps(
        [
            ("migrate (alembic upgrade head)", lambda: migrate.upgrade(db)),
            ("build the warehouse (dbt build)", lambda: run_dbt(db, ["build"], capture=True)),
        ]
    )
    table = Table("schema", "table", "size", title=f"warehouse at revision {migrate.current_revision(db)}")
    for row in ops.table_sizes(db):
        table.add_row(row.schema, row.table, row.size)
    console.print(table)
