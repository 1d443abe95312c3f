"""``reco runs list|show`` and ``reco audit``: inspect scoring runs."""

from __future__ import annotations

import json
from typing import Annotated

import typer
from rich.table import Table

from reco.campaign.report import PARTIAL_LABEL
from reco.cli._common import console, database
from reco.scoring.runs import list_runs, run_audit, show_run

app = typer.Typer(help="List and inspect scoring runs.", no_args_is_help=True)

#: columns of the per-scenario score distribution, as keys of ``show_run(...)["scenarios"]``
SCENARIO_COLUMNS = ("scenario", "customers", "items", "min", "p25", "median", "p75", "max", "mean")

JsonOpt = Annotated[bool, typer.Option("--json", help="Print JSON for scripts.")]


def _echo_json(data) -> None:
    typer.echo(json.dumps(data, indent=2, default=str))


@app.command("list")
def list_(
    limit: Annotated[int, typer.Option("--limit", min=1, help="How many runs, newest first.")] = 50,
    as_json: JsonOpt = False,
) -> None:
    """Runs, newest first, with status and per-scenario customer counts."""
    runs = list_runs(database(), limit)
    if as_json:
        _echo_json(runs)
        return
    table = Table(
        "run id",
        "status",
        "as of",
        "started",
        "eligible",
        "suppressed",
        "items",
        "scenarios",
        "error",
    )
    for r in runs:
        scen = ", ".join(f"{k} {v:,}" for k, v in r["by_scenario"].items() if v)
        table.add_row(
            r["run_id"],
            r["status"],
            r["as_of"] or "",
            (r["started_at"] or "")[:19],
            _n(r["n_eligible"]),
            _n(r["n_suppressed"]),
            _n(r["items"]),
            scen,
            r["error"] or "",
        )
    console.print(table)


def _n(value) -> str:
    return "" if value is None else f"{value:,}"


@app.command("show")
def show(run_id: Annotated[str, typer.Argument(help="Run id.")], as_json: JsonOpt = False) -> None:
    """One run: status, configuration digest, counts, score distributions, treatment and
    control group sizes per scenario, suppressions."""
    run = show_run(database(), run_id)
    if as_json:
        _echo_json(run)
        return
    meta = Table(show_header=False, title=f"run {run_id}")
    for key in (
        "status",
        "as_of",
        "started_at",
        "finished_at",
        "package_version",
        "git_commit",
        "n_eligible",
        "n_suppressed",
        "error",
    ):
        meta.add_row(key, str(run.get(key) if run.get(key) is not None else ""))
    fp = run.get("input_fingerprint") or {}
    for name, values in fp.items():
        if isinstance(values, dict):
            meta.add_row(f"input {name}", ", ".join(f"{k}={v}" for k, v in values.items()))
    console.print(meta)
    _decisions_tables(run.get("counts_json") or {})
    scen = Table(*SCENARIO_COLUMNS, title="scores by scenario")
    for r in run["scenarios"]:
        scen.add_row(*(str(r[k]) for k in SCENARIO_COLUMNS))
    console.print(scen)
    for scenario, because in run.get("nobody", {}).items():
        console.print(f"{scenario}: nobody — {because}", highlight=False, soft_wrap=True)
    if run.get("sample"):
        console.print(sample_table(run["sample"]))
    groups = Table("scenario", "treatment", "control", title="groups (control: held out of the campaign)")
    for r in run["groups"]:
        groups.add_row(r["scenario"], f"{r['treatment']:,}", f"{r['control']:,}")
    console.print(groups)
    if run["outcomes"]:
        first = run["outcomes"][0]
        partial = " (PARTIAL)" if first["is_partial"] else ""
        title = f"outcomes, {first['window_days']} days from {first['window_start']} (reco report){partial}"
        if first["is_partial"]:
            console.print(f"[bold red]{PARTIAL_LABEL}[/]", soft_wrap=True)
        outcomes = Table("group", "customers", "buyers", "revenue", title=title)
        for r in run["outcomes"]:
            outcomes.add_row(r["grp"], f"{r['customers']:,}", f"{r['buyers']:,}", f"{r['revenue']:,.2f}")
        console.print(outcomes)
    sup = Table("reason", "customers", title="suppression reasons")
    for r in run["suppression_reasons"]:
        sup.add_row(r["reason_code"], f"{r['customers']:,}")
    console.print(sup)
    _audit_table(run["audits"])


def _decisions_tables(counts: dict) -> None:
    """The rhythm a run derived and its self-validation choices (docs/scoring.md)."""
    rhythm = counts.get("rhythm")
    if rhythm:
        table = Table(show_header=False, title="horizon and rhythm")
        for key, value in rhythm.items():
            table.add_row(key, "" if value is None else str(value))
        console.print(table)
    validation = counts.get("validation")
    if validation:
        window = validation.get("window") or {}
        title = "self-validation"
        if window.get("start"):
            n = validation.get("customers", 0)
            title += f" on {window['start']} .. {window['end']} ({n:,} customers)"
        table = Table(
            "scenario", "metric", "learnt", "baseline", "difference [95%]", "n", "uses", "why", title=title
        )
        rows = list(validation.get("scenarios", []))
        if validation.get("assignment"):
            rows.append({"scenario": "(assignment)", "metric": "hit", **validation["assignment"]})
        for r in rows:
            diff = r.get("difference")
            ci = "" if diff is None else f"{diff:+.3f} [{r['ci_low']:+.3f}, {r['ci_high']:+.3f}]"
            table.add_row(
                r["scenario"],
                r["metric"],
                "" if r.get("learnt") is None else f"{r['learnt']:.3f}",
                "" if r.get("baseline") is None else f"{r['baseline']:.3f} ({r.get('baseline_name', '')})",
                ci,
                f"{r.get('n', 0):,}",
                r["choice"],
                r.get("why") or "",
            )
        console.print(table)
        if validation.get("skipped"):
            console.print(f"self-validation skipped: {validation['skipped']}")
    _arbitration_tables(counts.get("arbitration"))


def _arbitration_tables(arbitration: dict | None) -> None:
    """How customers were given their scenario: the method, the incrementality used per
    scenario and segment with its source, the expected value per scenario, and what the
    marketer's constraints cost (docs/scoring.md, "Arbitration")."""
    if not arbitration:
        return
    title = f"arbitration: {arbitration['method']}"
    if arbitration.get("why"):
        title += f" (configured {arbitration['configured']}: {arbitration['why']})"
    ev = arbitration.get("expected_value", {})
    table = Table("scenario", "segment", "incrementality", "source", "treated", "control", "EV", title=title)
    for r in arbitration.get("incrementality", []):
        overall = r.get("segment") is None
        table.add_row(
            r["scenario"],
            "(all)" if overall else r["segment"],
            f"{r['incrementality']:.3f}",
            r["source"],
            _n(r.get("n_treated")),
            _n(r.get("n_control")),
            f"{ev[r['scenario']]:,.2f}" if overall and r["scenario"] in ev else "",
        )
    console.print(table)
    c = arbitration.get("constraints")
    if c:
        shares = [f"{s} off" for s in c["off"]]
        shares += [f"{s} >= {v:.0%}" for s, v in c["min_share"].items()]
        shares += [f"{s} <= {v:.0%}" for s, v in c["max_share"].items()]
        loss = "" if c["loss_share"] is None else f" ({c['loss_share']:.1%})"
        console.print(
            f"constraints {', '.join(shares)}: {c['customers_moved']:,} customers moved, expected value "
            f"{c['ev']:,.2f} of {c['ev_unconstrained']:,.2f} unconstrained, loss {c['loss']:,.2f}{loss}"
            + (f"; not met: {'; '.join(c['unmet'])}" if c["unmet"] else "")
        )


def sample_table(rows: list[dict], title: str = "a sample of customers, in words") -> Table:
    """Customers with their scenario and why, then each product by name with its why
    (``reco.scoring.runs.sample_items``'s rows)."""
    table = Table("customer", "scenario", "why", "#", "product", "why this product", title=title)
    previous = None
    for r in rows:
        first = r["customer_code"] != previous
        previous = r["customer_code"]
        name = r.get("product_label") or r["product_key"]
        table.add_row(
            r["customer_code"] if first else "",
            r["scenario"] if first else "",
            (r.get("scenario_why") or "") if first else "",
            str(r["rank"]),
            name,
            r.get("why") or "",
            end_section=False,
        )
    return table


def _audit_table(summary: list[dict]) -> None:
    table = Table("severity", "kind", "reason", "rows", "customers", "examples", title="audit")
    for r in summary:
        table.add_row(
            r["severity"],
            r["kind"],
            r["reason_code"],
            f"{r['n']:,}",
            f"{r['customers']:,}",
            ", ".join(r["examples"] or []),
        )
    console.print(table)


def audit(
    run_id: Annotated[str, typer.Argument(help="Run id.")],
    kind: Annotated[
        str | None,
        typer.Option("--kind", help="Only suppressed | fallback | data_quality | export_suppressed."),
    ] = None,
    limit: Annotated[int, typer.Option("--limit", min=0, help="Audit items to list.")] = 20,
    as_json: JsonOpt = False,
) -> None:
    """A run's audit: counts by kind, reason and severity, then the first audit items."""
    data = run_audit(database(), run_id, kind=kind, limit=limit)
    if as_json:
        _echo_json(data)
        return
    _audit_table(data["summary"])
    items = Table(
        "customer", "kind", "reason", "severity", "product", "details", title=f"first {limit} items"
    )
    for r in data["items"]:
        items.add_row(
            r["customer_code"] or "(run)",
            r["kind"],
            r["reason_code"],
            r["severity"],
            r["product_key"] or "",
            json.dumps(r["details_json"]) if r["details_json"] else "",
        )
    console.print(items)
