"""Presenting a backtest: a rich table for the terminal, a PNG chart, JSON."""

from __future__ import annotations

import json
from pathlib import Path

import polars as pl
from rich.table import Table

from reco.backtest.evaluation import LIST_SCOPE, PLATFORM, TASKS, BacktestReport, CutoffResult
from reco.backtest.metrics import METRICS, OVERALL

#: the columns of the terminal table, in order: every metric, in report order
TABLE_METRICS = METRICS
METHOD_ORDER = (PLATFORM, "REPEAT", "TIFU-KNN", "SAR", "POP", "RANDOM")


def _cell(row: dict | None, with_ci: bool) -> str:
    if row is None or row["value"] is None:
        return "–"
    text = f"{row['value']:.3f}"
    if with_ci and row["ci_low"] is not None:
        text += f" [{row['ci_low']:.3f}, {row['ci_high']:.3f}]"
    return text


def cutoff_table(result: CutoffResult) -> Table:
    """Methods × metrics per scope, with counts; hit@3 and new-item hit@3 with their 95% CI."""
    table = Table(
        title=(
            f"cutoff {result.cutoff} · window {result.horizon_days} d · "
            f"{result.n_population:,} customers evaluated of {result.n_eligible:,} eligible "
            f"({result.n_scored:,} scored, {result.n_history:,} with history)"
        ),
        title_justify="left",
        caption=result.tifu_knn.describe() if result.tifu_knn is not None else None,
        caption_justify="left",
    )
    table.add_column("scope")
    table.add_column("n", justify="right")
    table.add_column("method")
    for metric in TABLE_METRICS:
        table.add_column(
            f"{metric}@3" if metric not in ("coverage", "new_item_share") else metric,
            justify="right",
        )
    rows = {(r["scope"], r["method"], r["metric"]): r for r in result.table.iter_rows(named=True)}
    scopes = [OVERALL, *sorted({s for s, _, _ in rows} - {OVERALL})]
    methods = [m for m in METHOD_ORDER if any(k[1] == m for k in rows)]
    for scope in scopes:
        for i, method in enumerate(methods):
            hit = rows.get((scope, method, "hit"))
            if hit is None:
                continue
            table.add_row(
                scope if i == 0 else "",
                f"{hit['n_customers']:,}" if i == 0 else "",
                method,
                *[
                    _cell(rows.get((scope, method, m)), with_ci=m in ("hit", "new_item_hit"))
                    for m in TABLE_METRICS
                ],
                end_section=i == len(methods) - 1,
            )
    return table


def reliability_table(result: CutoffResult) -> Table | None:
    """Predicted P against the observed rate by decile, per scenario list, with each
    scenario's expected calibration error (reco.backtest.reliability); None without lists."""
    from reco.backtest.reliability import expected_calibration_error

    if result.reliability is None or result.reliability.height == 0:
        return None
    ece = expected_calibration_error(result.reliability)
    table = Table(
        "scenario",
        "decile",
        "n",
        "predicted",
        "observed",
        title=f"reliability of P(buys from the list), cutoff {result.cutoff}",
        title_justify="left",
    )
    for scenario, rows in result.reliability.group_by("scenario", maintain_order=True):
        rows = rows.sort("decile")
        for i, r in enumerate(rows.iter_rows(named=True)):
            last = i == rows.height - 1
            table.add_row(
                f"{scenario[0]} (ECE {ece[scenario[0]]:.3f})" if i == 0 else "",
                str(r["decile"]),
                f"{r['n']:,}",
                f"{r['predicted']:.3f}",
                f"{r['observed']:.3f}",
                end_section=last,
            )
    return table


#: fewer customers in a comparison than this and no verdict is given
MIN_CUSTOMERS = 30


def verdicts(result: CutoffResult) -> list[dict]:
    """The comparisons the platform is held to (ANCHORS.md, docs/evaluation.md): overall hit@3
    against the best baseline, then each scenario on its task and baseline — on the customers
    it was given, and (with scenario lists) its own list on every customer it applies to."""
    rows = {(r["scope"], r["method"], r["metric"]): r for r in result.table.iter_rows(named=True)}
    baselines = [m for m in METHOD_ORDER[1:] if (OVERALL, m, "hit") in rows]
    checks = []
    if baselines:
        best = max(baselines, key=lambda m: rows[(OVERALL, m, "hit")]["value"] or 0.0)
        checks.append(("overall", OVERALL, "hit", best))
    for scenario, (metric, baseline) in TASKS.items():
        checks.append((scenario, scenario, metric, baseline))
    for scenario, (metric, baseline) in TASKS.items():
        checks.append((f"{scenario}'s own list", LIST_SCOPE + scenario, metric, baseline))
    out = []
    for label, scope, metric, candidates in checks:
        if isinstance(candidates, tuple):  # the best of several baselines at this cutoff
            present = [m for m in candidates if (rows.get((scope, m, metric)) or {}).get("value") is not None]
            baseline = (
                max(present, key=lambda m: rows[(scope, m, metric)]["value"]) if present else candidates[0]
            )
        else:
            baseline = candidates
        mine, theirs = rows.get((scope, PLATFORM, metric)), rows.get((scope, baseline, metric))
        if not mine or not theirs or mine["value"] is None or theirs["value"] is None:
            continue
        overlap = (
            mine["ci_low"] is not None
            and theirs["ci_high"] is not None
            and (mine["ci_low"] <= theirs["ci_high"] and theirs["ci_low"] <= mine["ci_high"])
        )
        verdict = "beats" if mine["value"] > theirs["value"] else "does not beat"
        if mine["n_customers"] < MIN_CUSTOMERS:
            verdict, overlap = f"too few customers to tell (< {MIN_CUSTOMERS})", False
        out.append(
            {
                "comparison": label,
                "scope": scope,
                "metric": metric,
                "n_customers": mine["n_customers"],
                "platform": mine,
                "baseline": baseline,
                "baseline_row": theirs,
                "verdict": verdict + (" (intervals overlap)" if overlap else ""),
            }
        )
    return out


def verdict_table(result: CutoffResult) -> Table:
    table = Table(title=f"cutoff {result.cutoff}: is it any good?", title_justify="left")
    for col in ("comparison", "n", "metric", "PLATFORM", "baseline", "verdict"):
        table.add_column(col, justify="right" if col == "n" else "left")
    for v in verdicts(result):
        table.add_row(
            v["comparison"],
            f"{v['n_customers']:,}",
            f"{v['metric']}@3",
            _cell(v["platform"], with_ci=True),
            f"{v['baseline']} {_cell(v['baseline_row'], with_ci=True)}",
            v["verdict"],
        )
    return table


def to_json(report: BacktestReport) -> str:
    out = report.as_dict()
    for cut, data in zip(report.cutoffs, out["cutoffs"], strict=True):
        data["verdicts"] = [
            {
                "comparison": v["comparison"],
                "scope": v["scope"],
                "metric": v["metric"],
                "n_customers": v["n_customers"],
                "platform": v["platform"]["value"],
                "baseline": v["baseline"],
                "baseline_value": v["baseline_row"]["value"],
                "verdict": v["verdict"],
            }
            for v in verdicts(cut)
        ]
    return json.dumps(out, indent=2, default=str)


def chart(report: BacktestReport, path: Path) -> Path:
    """Hit@3 and new-item hit@3 (overall, 95% CI) per method and cutoff; hit@3 per scenario
    at the last cutoff."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    results = report.results()
    methods = [m for m in METHOD_ORDER if m in set(results["method"])]
    cutoffs = sorted(set(results["cutoff"]))
    fig, axes = plt.subplots(1, 3, figsize=(16, 4.8))
    width = 0.8 / max(len(methods), 1)
    for ax, metric, title in (
        (axes[0], "hit", "hit@3 (overall, 95% CI)"),
        (axes[1], "new_item_hit", "new-item hit@3 (overall, 95% CI)"),
    ):
        for j, method in enumerate(methods):
            sub = (
                results.filter(scope=OVERALL, metric=metric, method=method)
                .sort("cutoff")
                .fill_null(float("nan"))
            )
            xs = [cutoffs.index(c) + (j - (len(methods) - 1) / 2) * width for c in sub["cutoff"]]
            values = sub["value"].to_numpy()
            err = [values - sub["ci_low"].to_numpy(), sub["ci_high"].to_numpy() - values]
            ax.bar(xs, values, width, yerr=err, capsize=2, label=method)
        ax.set_xticks(range(len(cutoffs)), [str(c) for c in cutoffs])
        ax.set_title(title)
        ax.set_ylim(0, 1)
        ax.grid(axis="y", alpha=0.3)
    axes[0].legend(fontsize=8)
    last = results.filter(
        pl.col("scope") != OVERALL,
        ~pl.col("scope").str.starts_with(LIST_SCOPE),
        cutoff=cutoffs[-1],
        metric="hit",
    )
    scopes = sorted(set(last["scope"]))
    for j, method in enumerate(methods):
        sub = last.filter(method=method)
        by_scope = dict(zip(sub["scope"], sub["value"], strict=True))
        xs = [i + (j - (len(methods) - 1) / 2) * width for i in range(len(scopes))]
        ax_values = [by_scope.get(s) or 0.0 for s in scopes]
        axes[2].bar(xs, ax_values, width, label=method)
    axes[2].set_xticks(range(len(scopes)), scopes, rotation=20, fontsize=8)
    axes[2].set_title(f"hit@3 per scenario, cutoff {cutoffs[-1]}")
    axes[2].set_ylim(0, 1)
    axes[2].grid(axis="y", alpha=0.3)
    fig.suptitle(f"reco backtest {report.backtest_id} · window {report.horizon_days} days")
    fig.tight_layout()
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(path, dpi=110)
    plt.close(fig)
    return path


def tradeoff_table(result: CutoffResult) -> Table | None:
    """The trade-off curve of one cutoff (reco.backtest.tradeoff); None without it."""
    if result.tradeoff is None:
        return None
    table = Table(
        "point",
        "hit@3",
        "new_item_hit@3",
        "customers per scenario",
        "guard would give",
        title=f"cutoff {result.cutoff}: re-orders against discovery (REBUY's incrementality prior)",
        title_justify="left",
    )
    for r in result.tradeoff.iter_rows(named=True):
        name = r["method"] + (" (default)" if r["default"] else "")
        table.add_row(
            name,
            _cell({"value": r["hit"], "ci_low": r["hit_low"], "ci_high": r["hit_high"]}, True),
            _cell(
                {
                    "value": r["new_item_hit"],
                    "ci_low": r["new_item_hit_low"],
                    "ci_high": r["new_item_hit_high"],
                },
                True,
            ),
            r["scenarios"] or "",
            r["guard"] or "",
        )
    return table


def tradeoff_chart(report: BacktestReport, path: Path) -> Path | None:
    """Overall hit@3 (x) against new-item hit@3 (y), 95% intervals, one panel per cutoff: the
    platform's curve over REBUY's incrementality prior, the baselines as points. None when the
    backtest has no curve."""
    curves = [c for c in report.cutoffs if c.tradeoff is not None]
    if not curves:
        return None
    return draw_tradeoff({c.cutoff: c.tradeoff for c in curves}, f"reco backtest {report.backtest_id}", path)


def draw_tradeoff(curves: dict, title: str, path: Path) -> Path:
    """The trade-off chart of ``curves`` (cutoff -> reco.backtest.tradeoff.curve table)."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    cols = min(3, len(curves))
    rows = -(-len(curves) // cols)
    fig, axes = plt.subplots(rows, cols, figsize=(5.2 * cols, 4.6 * rows), squeeze=False)
    for ax in axes.flat[len(curves) :]:
        ax.set_visible(False)
    for ax, (cutoff, t) in zip(axes.flat, sorted(curves.items()), strict=False):
        t = t.fill_null(float("nan"))
        line = t.filter(pl.col("prior_rebuy").is_not_nan()).sort("prior_rebuy")
        ax.errorbar(
            line["hit"],
            line["new_item_hit"],
            xerr=[line["hit"] - line["hit_low"], line["hit_high"] - line["hit"]],
            yerr=[
                line["new_item_hit"] - line["new_item_hit_low"],
                line["new_item_hit_high"] - line["new_item_hit"],
            ],
            fmt="-o",
            capsize=2,
            label="PLATFORM, guard off",
        )
        for r in line.iter_rows(named=True):
            label = f"{r['prior_rebuy']:g}" + (" (default)" if r["default"] else "")
            ax.annotate(
                label, (r["hit"], r["new_item_hit"]), fontsize=7, xytext=(4, 4), textcoords="offset points"
            )
        for r in t.filter(pl.col("prior_rebuy").is_nan(), pl.col("method") != "RANDOM").iter_rows(named=True):
            ax.errorbar(
                [r["hit"]],
                [r["new_item_hit"]],
                xerr=[[r["hit"] - r["hit_low"]], [r["hit_high"] - r["hit"]]],
                yerr=[
                    [r["new_item_hit"] - r["new_item_hit_low"]],
                    [r["new_item_hit_high"] - r["new_item_hit"]],
                ],
                fmt="s" if r["method"] == PLATFORM else "^",
                capsize=2,
                label=r["method"] + (" (as run, guard on)" if r["method"] == PLATFORM else ""),
            )
        ax.set_xlabel("hit@3 (overall)")
        ax.set_ylabel("new-item hit@3")
        ax.set_title(f"cutoff {cutoff}", fontsize=10)
        ax.set_xlim(0, 1)
        ax.set_ylim(0, max(0.4, float(t["new_item_hit_high"].fill_nan(0).max() or 0) + 0.05))
        ax.grid(alpha=0.3)
    axes[0][0].legend(fontsize=7)
    fig.suptitle(
        f"{title}\nre-orders against discovery; labels: REBUY's incrementality prior (others 0.30)",
        fontsize=9,
    )
    fig.tight_layout()
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(path, dpi=110)
    plt.close(fig)
    return path
