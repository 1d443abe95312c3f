"""``reco backtest``: offline evaluation of the scoring against baselines."""

from __future__ import annotations

from datetime import date
from pathlib import Path
from typing import Annotated

import typer

from reco.cli._common import console, database, err_console
from reco.errors import RecoError


def _dates(text: str, option: str) -> list[date]:
    out = []
    for part in (p.strip() for p in text.split(",")):
        if not part:
            continue
        try:
            out.append(date.fromisoformat(part))
        except ValueError:
            raise RecoError(f"{option}: expected dates as YYYY-MM-DD, got {part!r}") from None
    return out


def backtest(
    cutoff: Annotated[
        str | None, typer.Option(help="Cutoff date (YYYY-MM-DD): training is strictly before it.")
    ] = None,
    horizon_days: Annotated[
        int,
        typer.Option(
            help="Test window: purchases in [cutoff, cutoff + N days); also the scoring's "
            "horizon (rhythm.horizon_days: calibration and self-validation window)."
        ),
    ] = 90,
    cutoffs: Annotated[
        str | None,
        typer.Option(help="Several cutoffs, comma-separated, evaluated walking forward."),
    ] = None,
    config: Annotated[
        Path | None, typer.Option(help="Scoring configuration (reco.toml) to evaluate.")
    ] = None,
    with_contact_rules: Annotated[
        bool,
        typer.Option(help="Apply the contact rules; withheld customers are left out of all methods."),
    ] = False,
    full_dbt_build: Annotated[
        bool, typer.Option(help="Run dbt's data tests in each rebuild too (slower).")
    ] = False,
    keep_schemas: Annotated[bool, typer.Option(help="Keep the rebuilt bt_* schemas for inspection.")] = False,
    truth: Annotated[
        str,
        typer.Option(
            help="Where the window's purchases come from: live (marts.order_line, read only), "
            "rebuild (own dbt rebuild), auto (live when it covers the window)."
        ),
    ] = "auto",
    scenario_lists: Annotated[
        bool,
        typer.Option(
            help="Also score each scenario's own list for every customer it applies to and "
            "compare it with the baseline of its task (five more scorings per cutoff)."
        ),
    ] = False,
    chart: Annotated[
        Path | None, typer.Option(help="PNG chart to write (default: backtest-<id>.png).")
    ] = None,
    as_json: Annotated[bool, typer.Option("--json", help="Print the results as JSON.")] = False,
) -> None:
    """Rebuild the warehouse as of each cutoff, score, and compare with what customers bought
    next, against POP, REPEAT, SAR and a random floor (see docs/evaluation.md)."""
    from reco.backtest import report as rep
    from reco.backtest.run import run_backtest

    dates = _dates(cutoff or "", "--cutoff") + _dates(cutoffs or "", "--cutoffs")
    quiet = as_json
    status = err_console if quiet else console
    result = run_backtest(
        database(),
        dates,
        horizon_days,
        config=config,
        with_contact_rules=with_contact_rules,
        full_dbt_build=full_dbt_build,
        keep_schemas=keep_schemas,
        truth=truth,
        scenario_lists=scenario_lists,
        progress=lambda msg: status.print(f"[dim]{msg}[/]"),
    )
    png = rep.chart(result, chart or Path(f"backtest-{result.backtest_id}.png"))
    if as_json:
        typer.echo(rep.to_json(result))
        return
    for cut in result.cutoffs:
        console.print(rep.cutoff_table(cut))
        console.print(rep.verdict_table(cut))
        if (reliability := rep.reliability_table(cut)) is not None:
            console.print(reliability)
    console.print(
        f"backtest {result.backtest_id} saved to reco.backtest_result ({result.seconds:.1f} s); chart {png}",
        highlight=False,
    )
