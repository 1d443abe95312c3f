"""``reco demo-data``: write the synthetic wine merchant's CSV exports."""

from __future__ import annotations

from datetime import date
from pathlib import Path
from typing import Annotated

import typer
from rich.table import Table

from reco.cli._common import console
from reco.demo_data import DEFAULT_END_DATE, generate
from reco.errors import RecoError


def _parse_date(text: str) -> date:
    try:
        return date.fromisoformat(text)
    except ValueError:
        raise RecoError(f"--end-date: expected a date YYYY-MM-DD, got {text!r}") from None


def demo_data(
    out_dir: Annotated[
        Path, typer.Argument(help="Folder to write the CSV files into (created if missing).")
    ],
    customers: Annotated[
        int, typer.Option("--customers", help="Number of customer codes.")
    ] = 10_000,
    seed: Annotated[
        int, typer.Option("--seed", help="Random seed: the same seed gives the same files.")
    ] = 42,
    products: Annotated[
        int | None,
        typer.Option(
            "--products",
            help="Catalogue size (default: 300, growing to 2,000 at 1 M customers).",
            show_default=False,
        ),
    ] = None,
    end_date: Annotated[
        str,
        typer.Option("--end-date", help="Last day of the sales, YYYY-MM-DD (the reference date)."),
    ] = DEFAULT_END_DATE.isoformat(),
) -> None:
    """Write the CSV exports of a synthetic French wine merchant (catalogue, CRM, ERP sales,
    aliases, e-mailing history). See docs/demo-data.md for the files and their dialects."""
    with console.status(f"generating {customers:,} customers…"):
        manifest = generate(
            out_dir,
            customers,
            seed,
            products=products,
            end_date=_parse_date(end_date),
        )
    table = Table(
        "file",
        "entity",
        "rows",
        "separator",
        "encoding",
        "decimal",
        title=f"demo data in {out_dir}",
    )
    for f in manifest.files:
        d = f.dialect
        table.add_row(f.name, f.entity, f"{f.rows:,}", repr(d.separator), d.encoding, d.decimal)
    console.print(table)
    console.print(
        f"{manifest.customers:,} customers, {manifest.products:,} products, sales "
        f"{manifest.start_date} → {manifest.end_date}, seed {manifest.seed}",
        highlight=False,
    )
