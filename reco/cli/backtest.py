"""``reco backtest``: offline evaluation of the scoring against baselines."""

from __future__ import annotations

from datetime import date, datetime
from pathlib import Path
from typing import Annotated

import typer

from reco.cli._common import (
    DATE_FORMATS,
    DATE_METAVAR,
    Steps,
    console,
    database,
    date_list,
    day,
    refuse_together,
)


def backtest(
    cutoff: Annotated[
        datetime | None,
        typer.Option(
            formats=DATE_FORMATS, metavar=DATE_METAVAR, help="Cutoff date: training is strictly before it."
        ),
    ] = None,
    horizon_days: Annotated[
        int,
        typer.Option(
            help="Test window: purchases in [cutoff, cutoff + N days); also the scoring's "
            "horizon (rhythm.horizon_days: calibration and self-validation window)."
        ),
    ] = 90,
    cutoffs: Annotated[
        list[date] | None,
        typer.Option(
            parser=date_list,
            metavar="<YYYY-MM-DD,…>",
            help="Several cutoffs, comma-separated, evaluated walking forward (not with --cutoff).",
        ),
    ] = None,
    config: Annotated[
        Path | None,
        typer.Option(
            exists=True, dir_okay=False, readable=True, help="Scoring configuration (reco.toml) to evaluate."
        ),
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
    tradeoff: Annotated[
        bool,
        typer.Option(
            help="Also draw the trade-off curve between overall and new-item hit@3: the "
            "platform at several values of REBUY's incrementality prior, the baselines as "
            "points (seven more scorings per cutoff; PNG beside the chart)."
        ),
    ] = False,
    chart: Annotated[
        Path | None,
        typer.Option(dir_okay=False, help="PNG chart to write (default: backtest-<id>.png)."),
    ] = None,
    as_json: Annotated[bool, typer.Option("--json", help="Print the results as JSON.")] = False,
) -> None:
    """Rebuild the warehouse as of each cutoff, score, and compare with what customers bought
    next, against POP, REPEAT, SAR and a random floor (see docs/evaluation.md)."""
    from reco.backtest import report as rep
    from reco.backtest.run import run_backtest

    refuse_together(**{"--cutoff": cutoff, "--cutoffs": cutoffs})
    if cutoff is None and not cutoffs:
        raise typer.BadParameter("give a cutoff date", param_hint="'--cutoff' or '--cutoffs'")
    # Typer passes each --cutoffs value through date_list: a list of dates per value given.
    dates = [day(cutoff)] if cutoff is not None else [d for group in cutoffs for d in group]
    with Steps() as shown:
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
            tradeoff=tradeoff,
            progress=shown.say,
            on_node=shown.node,
        )
    png = rep.chart(result, chart or Path(f"backtest-{result.backtest_id}.png"))
    curve_png = rep.tradeoff_chart(result, png.with_name(f"{png.stem}-tradeoff.png"))
    if as_json:
        typer.echo(rep.to_json(result))
        return
    for cut in result.cutoffs:
        console.print(rep.cutoff_table(cut))
        console.print(rep.verdict_table(cut))
        if (reliability := rep.reliability_table(cut)) is not None:
            console.print(reliability)
        if (curve := rep.tradeoff_table(cut)) is not None:
            console.print(curve)
    console.print(
        f"backtest {result.backtest_id} saved to reco.backtest_result ({result.seconds:.1f} s); chart {png}"
        + (f", trade-off curve {curve_png}" if curve_png else ""),
        highlight=False,
    )
