"""``reco demo-data``: write a synthetic retailer's CSV exports (the wine merchant, or with
``--shape grocery`` a grocery chain)."""

from __future__ import annotations

import json
from dataclasses import asdict
from datetime import datetime, timedelta
from enum import StrEnum
from pathlib import Path
from typing import Annotated

import typer
from rich.table import Table

from reco.cli._common import DATE_FORMATS, DATE_METAVAR, Steps, console, database, day, print_json
from reco.demo_data import DEFAULT_CUSTOMERS, DEFAULT_END_DATE, DEFAULT_SEED, generate, grocery
from reco.demo_data.campaign import DEFAULT_DAYS, DEFAULT_LIFTS, parse_lifts, simulate_campaign


class Shape(StrEnum):
    wine = "wine"
    grocery = "grocery"


def demo_data(
    out_dir: Annotated[
        Path,
        typer.Argument(file_okay=False, help="Folder to write the CSV files into (created if missing)."),
    ],
    customers: Annotated[
        int, typer.Option("--customers", min=1, help="Number of customer codes.")
    ] = DEFAULT_CUSTOMERS,
    seed: Annotated[
        int, typer.Option("--seed", help="Random seed: the same seed gives the same files.")
    ] = DEFAULT_SEED,
    products: Annotated[
        int | None,
        typer.Option(
            "--products",
            help="Catalogue size (wine: 300, growing to 2,000 at 1 M customers; grocery: 6,000).",
            show_default=False,
        ),
    ] = None,
    end_date: Annotated[
        datetime | None,
        typer.Option(
            "--end-date",
            formats=DATE_FORMATS,
            metavar=DATE_METAVAR,
            help=f"Last day of the sales (default {DEFAULT_END_DATE} for wine,"
            f" {grocery.DEFAULT_END} for grocery).",
            show_default=False,
        ),
    ] = None,
    shape: Annotated[
        Shape,
        typer.Option(
            "--shape",
            help="wine: the wine merchant (years of history, receipts, taste attributes);"
            " grocery: a grocery chain (four months, thousands of products, till lines with no"
            " receipt number, loyalty cards; --customers are households).",
        ),
    ] = Shape.wine,
    as_json: Annotated[bool, typer.Option("--json", help="Print the manifest as JSON.")] = False,
) -> None:
    """Write the CSV exports of a synthetic retailer: by default a French wine merchant
    (catalogue, CRM, ERP sales, aliases, e-mailing history), or a grocery chain with the
    mappings that load it. See docs/demo-data.md for the files and their dialects."""
    with Steps(1) as shown, shown.step(f"generate {customers:,} {shape.value} customers (seed {seed})"):
        if shape is Shape.grocery:
            made = grocery.generate_grocery(
                out_dir,
                customers,
                products or 6_000,
                end_date=day(end_date) or grocery.DEFAULT_END,
                seed=seed,
            )
        else:
            manifest = generate(
                out_dir, customers, seed, products=products, end_date=day(end_date) or DEFAULT_END_DATE
            )
    if shape is Shape.grocery:
        if as_json:
            print_json(asdict(made))
            return
        console.print(
            f"{made.households:,} households, {made.products:,} products in {made.subclasses:,}"
            f" subclasses, {made.sales_lines:,} till lines in {made.baskets:,} baskets,"
            f" {made.start_date} → {made.end_date}, seed {made.seed}\n"
            f"load them with: reco load <sales|products|customers> {out_dir}/<entity>.csv"
            f" --mapping {out_dir}/<entity>.toml",
            highlight=False,
        )
        return
    if as_json:
        typer.echo(manifest.to_json(), nl=False)
        return
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


def demo_campaign(
    out_dir: Annotated[
        Path, typer.Argument(file_okay=False, help="Folder to write the sales file and the truth into.")
    ],
    run_id: Annotated[str, typer.Option("--run-id", help="A run whose contacts are recorded.")],
    lift: Annotated[
        str | None,
        typer.Option(
            "--lift",
            help="Lifts per scenario, e.g. REBUY=0.05,WINBACK=0,NURTURE=-0.1 (between -1 and 1; "
            f"others keep the default {','.join(f'{k}={v:g}' for k, v in DEFAULT_LIFTS.items())}).",
            show_default=False,
        ),
    ] = None,
    days: Annotated[int, typer.Option("--days", help="Length of the simulated period.")] = DEFAULT_DAYS,
    seed: Annotated[int, typer.Option("--seed", help="The same seed gives the same files.")] = 42,
    as_json: Annotated[bool, typer.Option("--json", help="Print the truth as JSON.")] = False,
) -> None:
    """Simulate the period after a run's campaign with a known lift per scenario: an ERP sales
    export (load it with reco load sales) and the true uplift (campaign_truth.json). See
    docs/campaigns.md, "Simulator"."""
    period = simulate_campaign(database(), run_id, out_dir, lifts=parse_lifts(lift), days=days, seed=seed)
    if as_json:
        typer.echo(json.dumps(period.truth, indent=2))
        return
    end = period.window_start + timedelta(days=days - 1)
    table = Table(
        "scenario",
        "lift",
        "treated",
        "control",
        "contacted",
        "true uplift (conversion)",
        "true uplift (revenue/customer)",
        title=f"simulated period {period.window_start} → {end} after run {run_id} (seed {seed})",
    )
    for name, t in [*period.truth["scenarios"].items(), ("overall", period.truth["overall"])]:
        table.add_row(
            name,
            f"{period.lifts[name]:+g}" if name in period.lifts else "",
            f"{t['n_treatment']:,}",
            f"{t['n_control']:,}",
            f"{t['contacted_share']:.0%}" if t["contacted_share"] is not None else "",
            f"{t['conversion_abs_uplift'] * 100:+.2f} pts",
            f"{t['revenue_per_customer_abs_uplift']:+.2f}",
        )
    console.print(table)
    console.print(
        f"{period.sales_path} ({period.lines:,} sales lines):"
        f" load it with reco load sales {period.sales_path}\n"
        f"{period.truth_path} (the true uplift)",
        highlight=False,
    )
