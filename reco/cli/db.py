"""``reco db``: the database reco uses (embedded by default, or DATABASE_URL)."""

from __future__ import annotations

import shlex
from dataclasses import asdict
from pathlib import Path
from typing import Annotated

import typer
from rich.table import Table

from reco.cli._common import console, database, print_json
from reco.db import migrate, ops, roles
from reco.db.engine import server_version
from reco.dbt.runner import dbt_env

app = typer.Typer(
    help="Start, stop, inspect, migrate, back up and restore the database.", no_args_is_help=True
)

AsJson = Annotated[bool, typer.Option("--json", help="Print it as JSON.")]


@app.command()
def start(as_json: AsJson = False) -> None:
    """Start the embedded server (a no-op for an external DATABASE_URL)."""
    db = database()
    if as_json:
        state = db.embedded.status() if db.embedded is not None else None
        print_json(
            {
                "embedded": state is not None,
                "url": db.masked,
                "pid": state.pid if state else None,
                "data": str(state.pgdata) if state else None,
            }
        )
        return
    if db.embedded is None:
        console.print(f"using the external server from {db.origin}: {db.masked} (nothing to start)")
        return
    state = db.embedded.status()
    console.print(f"embedded PostgreSQL running (pid {state.pid}), data in {state.pgdata}")


@app.command()
def stop(as_json: AsJson = False) -> None:
    """Stop the embedded server. It otherwise keeps running between commands."""
    db = database(start=False)
    stopped = db.embedded.stop() if db.embedded is not None else False
    if as_json:
        print_json({"embedded": db.embedded is not None, "stopped": stopped})
        return
    if db.embedded is None:
        console.print(f"using the external server from {db.origin}: reco does not stop it")
        return
    console.print("embedded PostgreSQL stopped" if stopped else "embedded PostgreSQL was not running")


@app.command()
def status(as_json: AsJson = False) -> None:
    """Which server is used, whether it runs, its version and the migration revision."""
    db = database(start=False)
    facts: dict[str, object] = {"source": db.origin, "url": db.masked, "embedded": db.embedded is not None}
    running = True
    if db.embedded is not None:
        state = db.embedded.status()
        running = state.running
        facts.update(data=str(state.pgdata), pid=state.pid if running else None)
    facts["running"] = running
    if running:
        facts.update(
            server=server_version(db), revision=migrate.current_revision(db), head=migrate.head_revision()
        )
    if as_json:
        print_json(facts)
        return
    table = Table(show_header=False, box=None)
    table.add_row("source", db.origin)
    table.add_row("url", db.masked)
    if db.embedded is not None:
        table.add_row("data", facts["data"])
        table.add_row("running", f"yes (pid {facts['pid']})" if running else "no")
    if running:
        table.add_row("server", facts["server"])
        table.add_row("revision", f"{facts['revision'] or 'none'} (head {facts['head']})")
    console.print(table)


@app.command()
def url() -> None:
    """Print the database URL, password masked."""
    console.print(database(start=False).masked, highlight=False, soft_wrap=True)


@app.command()
def env() -> None:
    """Print shell exports so that plain dbt and psql reach the same database.

    Use as: eval "$(reco db env)". A password goes to a 0600 pgpass file, never to the output."""
    for key, value in dbt_env(database()).items():
        typer.echo(f"export {key}={shlex.quote(value)}")


@app.command()
def check(as_json: AsJson = False) -> None:
    """Check connectivity and print the server version."""
    db = database()
    version = server_version(db)
    if as_json:
        print_json({"ok": True, "server": version, "url": db.masked})
        return
    console.print(f"ok: PostgreSQL {version} at {db.masked}", highlight=False, soft_wrap=True)


@app.command()
def init(as_json: AsJson = False) -> None:
    """Migrate the database to head (Alembic) and list the tables Alembic owns."""
    db = database()
    migrate.upgrade(db)
    if as_json:
        print_json({"revision": migrate.current_revision(db), "tables": list(migrate.owned_tables(db))})
        return
    console.print(f"✓ Database initialized successfully (revision {migrate.current_revision(db)})")
    for name in migrate.owned_tables(db):
        console.print(f"  - {name}", highlight=False)


@app.command()
def sizes(as_json: AsJson = False) -> None:
    """Table sizes across every schema, largest first."""
    rows = ops.table_sizes(database())
    if as_json:
        print_json([asdict(row) for row in rows])
        return
    table = Table("schema", "table", "size")
    for row in rows:
        table.add_row(row.schema, row.table, row.size)
    console.print(table)


@app.command()
def backup(
    file: Annotated[Path, typer.Argument(dir_okay=False, help="Dump file to write (pg_dump custom format).")],
    as_json: AsJson = False,
) -> None:
    """Back up the whole database with pg_dump."""
    path = ops.backup(database(), file)
    if as_json:
        print_json({"path": str(path), "bytes": path.stat().st_size})
        return
    console.print(f"backup written to {path} ({path.stat().st_size:,} bytes)")


@app.command()
def restore(
    file: Annotated[
        Path,
        typer.Argument(
            exists=True, dir_okay=False, readable=True, help="Dump file written by `reco db backup`."
        ),
    ],
    as_json: AsJson = False,
) -> None:
    """Restore a backup with pg_restore (objects in the dump are replaced)."""
    ops.restore(database(), file)
    if as_json:
        print_json({"restored": str(file)})
        return
    console.print(f"restored {file}")


@app.command("roles")
def roles_(
    analyst: Annotated[
        str, typer.Option(help="Group role that reads the marts and lookups.")
    ] = roles.DEFAULT_NAMES["analyst"],
    scorer: Annotated[
        str, typer.Option(help="Group role that reads the marts and writes the reco schema.")
    ] = roles.DEFAULT_NAMES["scorer"],
    loader: Annotated[str, typer.Option(help="Group role that writes the raw schema.")] = roles.DEFAULT_NAMES[
        "loader"
    ],
    owner: Annotated[
        str | None,
        typer.Option(help="Role that runs dbt and the migrations (default: the connecting role)."),
    ] = None,
    as_json: AsJson = False,
) -> None:
    """Create (idempotently) least-privilege group roles; log in as members of them
    (see "Least privilege" in the README)."""
    ensured = roles.ensure_roles(database(), analyst=analyst, scorer=scorer, loader=loader, owner=owner)
    if as_json:
        print_json(
            [
                {"role": r.name, "reads": list(r.reads), "writes": list(r.writes), "created": created}
                for r, created in ensured
            ]
        )
        return
    table = Table("role", "reads", "writes", "")
    for role, created in ensured:
        table.add_row(
            role.name, ", ".join(role.reads), ", ".join(role.writes), "created" if created else "exists"
        )
    console.print(table)
