"""The analysts' documentation site: ``dbt docs generate --static`` into one HTML file, and a
small local web server for it."""

from __future__ import annotations

import functools
import os
import shutil
from http.server import SimpleHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

from reco.db.target import Database
from reco.dbt.runner import dbt_project_dir, run_dbt
from reco.errors import RecoError


def dbt_target_dir() -> Path:
    """Where dbt writes its artefacts: DBT_TARGET_PATH (relative to the project) or target/."""
    return dbt_project_dir() / os.environ.get("DBT_TARGET_PATH", "target")


def default_site_dir() -> Path:
    return dbt_target_dir() / "site"


def build_docs(db: Database, site_dir: Path | None = None) -> Path:
    """Generate the docs (dbt reads the catalogue of the built warehouse from ``db``) and write
    the self-contained site to ``site_dir/index.html``; return that path."""
    site_dir = Path(site_dir) if site_dir is not None else default_site_dir()
    run_dbt(db, ["docs", "generate", "--static"], capture=True)
    generated = dbt_target_dir() / "static_index.html"
    if not generated.is_file():
        raise RecoError(f"dbt docs generate wrote no {generated}")
    site_dir.mkdir(parents=True, exist_ok=True)
    index = site_dir / "index.html"
    shutil.copyfile(generated, index)
    return index


def docs_server(
    site_dir: Path | None = None, host: str = "127.0.0.1", port: int = 8080
) -> ThreadingHTTPServer:
    """A web server for a built site (call ``serve_forever()`` on it); one clear error when the
    site has not been built."""
    site_dir = Path(site_dir) if site_dir is not None else default_site_dir()
    if not (site_dir / "index.html").is_file():
        raise RecoError(f"no docs site in {site_dir}: run `reco docs build` first")
    handler = functools.partial(_QuietHandler, directory=str(site_dir))
    try:
        return ThreadingHTTPServer((host, port), handler)
    except OSError as exc:
        raise RecoError(f"cannot serve the docs on {host}:{port}: {exc.strerror}") from None


class _QuietHandler(SimpleHTTPRequestHandler):
    def log_message(self, format: str, *args) -> None:  # noqa: A002 - stdlib signature
        pass
