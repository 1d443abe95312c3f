"""Operations behind ``reco db``: status, sizes, backup and restore."""

from __future__ import annotations

import os
import shutil
import subprocess
from dataclasses import dataclass
from pathlib import Path

from sqlalchemy import text

from reco.db.embedded import bin_dir
from reco.db.engine import connect
from reco.db.target import Database, mask_url, write_passfile
from reco.errors import RecoError

#: The spec's table-size query, over every schema reco and dbt use rather than only public.
SIZES_SQL = text(
    """
    with tables as (
        select
            schemaname,
            tablename,
            pg_total_relation_size(quote_ident(schemaname) || '.' || quote_ident(tablename)) as bytes
        from pg_tables
        where schemaname not in ('pg_catalog', 'information_schema')
    )
    select schemaname, tablename, pg_size_pretty(bytes) as size, bytes
    from tables
    order by bytes desc, schemaname, tablename
    """
)


@dataclass(frozen=True)
class TableSize:
    schema: str
    table: str
    size: str
    bytes: int


def table_sizes(db: Database) -> list[TableSize]:
    with connect(db) as conn:
        return [TableSize(*row) for row in conn.execute(SIZES_SQL)]


def pg_tool(name: str) -> str:
    """A PostgreSQL client binary: the embedded server's own (v16), else one on PATH."""
    bundled = bin_dir() / name
    if bundled.exists():
        return str(bundled)
    found = shutil.which(name)
    if not found:
        raise RecoError(f"{name} not found: neither bundled with the embedded server nor on PATH")
    return found


def _run_tool(db: Database, args: list[str], what: str, stdout: int = subprocess.PIPE) -> None:
    env = {**os.environ, **db.libpq_env(write_passfile(db))}
    env.pop("PGPASSWORD", None)
    proc = subprocess.run(args, env=env, stdout=stdout, stderr=subprocess.PIPE, text=True, check=False)
    if proc.returncode != 0:
        detail = mask_url(proc.stderr.strip().splitlines()[-1] if proc.stderr.strip() else "")
        raise RecoError(f"{what} failed (exit {proc.returncode}): {detail}")


def backup(db: Database, file: Path) -> Path:
    """Dump the whole database (every schema) in pg_dump's custom format, into a file readable
    by its owner only (0600: it holds every customer's e-mail and consent flags). The file is
    created with that mode (or an existing one is narrowed to it) before pg_dump writes a byte,
    and pg_dump writes to that open file, so there is no moment when others could read it."""
    file = Path(file).resolve()
    if file.is_dir():
        raise RecoError(f"backup: {file} is a directory; give a file name")
    file.parent.mkdir(parents=True, exist_ok=True)
    fd = os.open(file, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    try:
        os.fchmod(fd, 0o600)
        _run_tool(db, [pg_tool("pg_dump"), "--format=custom", "--no-owner"], "pg_dump", stdout=fd)
    finally:
        os.close(fd)
    return file


def restore(db: Database, file: Path) -> None:
    """Restore a dump made by :func:`backup`, replacing the objects it contains."""
    file = Path(file)
    if not file.is_file():
        raise RecoError(f"backup file not found: {file}")
    _run_tool(
        db,
        [
            pg_tool("pg_restore"),
            "--clean",
            "--if-exists",
            "--no-owner",
            "--single-transaction",
            f"--dbname={db.url.database}",
            str(file),
        ],
        "pg_restore",
    )
