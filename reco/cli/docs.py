"""``reco docs``: the warehouse documentation site for analysts."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer

from reco.cli._common import Steps, console, database, print_json
from reco.dbt.docs import build_docs, docs_server
from reco.errors import Interrupted

app = typer.Typer(help="Build and serve the dbt documentation site of the warehouse.", no_args_is_help=True)

SiteDir = Annotated[
    Path | None,
    typer.Option(
        "--site-dir", file_okay=False, help="Folder of the site (default: dbt_project/target/site)."
    ),
]


@app.command()
def build(
    site_dir: SiteDir = None,
    as_json: Annotated[bool, typer.Option("--json", help="Print the site's path as JSON.")] = False,
) -> None:
    """Write the static docs site (one self-contained index.html) from the built warehouse."""
    db = database()
    with Steps(1) as shown, shown.step("dbt docs generate (reads the catalogue of the warehouse)"):
        index = build_docs(db, site_dir)
    if as_json:
        print_json({"index": str(index)})
        return
    console.print(f"docs site written to {index}", highlight=False, soft_wrap=True)


@app.command()
def serve(
    site_dir: SiteDir = None,
    host: Annotated[str, typer.Option(help="Address to listen on.")] = "127.0.0.1",
    port: Annotated[int, typer.Option(help="Port to listen on.")] = 8080,
) -> None:
    """Serve the built docs site until interrupted (Ctrl-C)."""
    server = docs_server(site_dir, host, port)
    console.print(f"serving the warehouse docs on http://{host}:{port}/ (Ctrl-C to stop)")
    try:
        server.serve_forever()
    except (KeyboardInterrupt, Interrupted):  # Ctrl-C or SIGTERM: the way to stop it
        pass
    finally:
        server.server_close()
