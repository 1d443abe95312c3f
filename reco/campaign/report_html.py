"""The uplift report as ONE self-contained HTML page: inline CSS, inline SVG charts drawn here,
no script and no external address (it opens offline, from a mail attachment or a file share).

Each metric gets a chart: one bar per scenario (and one for all scenarios) from zero to the
absolute uplift, with a whisker over its 95% interval. The bars carry their numbers as
``data-*`` attributes and the chart its scale (``data-px-per-unit``), so that a test can check
that what is drawn is what was measured.
"""

from __future__ import annotations

from datetime import timedelta
from html import escape
from pathlib import Path

from reco.campaign.report import (
    LABELS,
    OVERALL,
    PARTIAL_LABEL,
    UpliftReport,
    cells,
    signed,
)
from reco.campaign.uplift import METRICS, MIN_GROUP_SIZE

CHART_WIDTH = 940
LABEL_WIDTH = 170
VALUE_WIDTH = 210
ROW_HEIGHT = 30
PAD = 14

CSS = """
body { font: 15px/1.45 system-ui, -apple-system, "Segoe UI", sans-serif; color: #1d2733;
       margin: 2rem auto; max-width: 1080px; padding: 0 1rem; }
h1 { font-size: 1.6rem; margin-bottom: .2rem; }
h2 { font-size: 1.2rem; margin-top: 2rem; border-bottom: 1px solid #d5dbe2; }
.meta { color: #56616d; }
.partial { background: #fff1d6; border: 2px solid #d48800; color: #7a4b00; font-weight: 700;
           padding: .6rem .9rem; border-radius: 6px; }
table { border-collapse: collapse; width: 100%; margin: .6rem 0; }
th, td { text-align: right; padding: .3rem .5rem; border-bottom: 1px solid #e6eaee; }
th:first-child, td:first-child { text-align: left; white-space: normal; }
td { white-space: nowrap; }
th { background: #f4f6f8; font-weight: 600; }
td.weak { color: #8a5a00; }
figure { margin: 1.2rem 0; }
figcaption { font-weight: 600; margin-bottom: .3rem; }
svg text { font: 12px system-ui, sans-serif; fill: #1d2733; }
.bar.up { fill: #2f8f5b; } .bar.down { fill: #c0392b; } .bar.weak { fill-opacity: .45; }
.whisker { stroke: #1d2733; stroke-width: 2; } .zero { stroke: #56616d; stroke-dasharray: 3 3; }
ul.power li { margin: .2rem 0; }
"""


def _table(report: UpliftReport, scenario: str) -> str:
    head = (
        "<tr><th>metric</th><th>treated</th><th>control</th><th>absolute uplift</th>"
        "<th>95% interval</th><th>relative uplift</th><th>95% interval</th><th>MDE</th>"
        "<th>power</th></tr>"
    )
    body = []
    for r in report.rows(scenario):
        weak = r["under_powered"]
        shown = [*cells(r), "under-powered" if weak else "ok"]
        tds = "".join(
            f"<td{' class=weak' if weak and i == len(shown) - 1 else ''}>{escape(c)}</td>"
            for i, c in enumerate(shown)
        )
        body.append(f'<tr data-metric="{r["metric"]}">{tds}</tr>')
    first = report.rows(scenario)[0]
    sizes = f"{first['n_treatment']:,} treated, {first['n_control']:,} control"
    return (
        f'<section class="scenario" data-scenario="{escape(scenario)}"><h2>{escape(scenario)}</h2>'
        f'<p class="meta">{sizes}</p><table>{head}{"".join(body)}</table></section>'
    )


def _chart(report: UpliftReport, metric: str) -> str:
    rows = [(s, r) for s in (OVERALL, *report.scenarios) for r in report.rows(s) if r["metric"] == metric]
    numbers = [v for _, r in rows for v in (r["abs_uplift"], r["abs_low"], r["abs_high"]) if v is not None]
    low, high = min([0.0, *numbers]), max([0.0, *numbers])
    span = (high - low) or 1.0
    plot = CHART_WIDTH - LABEL_WIDTH - VALUE_WIDTH - 2 * PAD
    scale = plot / span

    def x(v: float) -> float:
        return LABEL_WIDTH + PAD + (v - low) * scale

    height = ROW_HEIGHT * len(rows) + 2 * PAD
    parts = [
        f'<svg class="chart" data-metric="{metric}" data-px-per-unit="{scale:.6f}" width="{CHART_WIDTH}"'
        f' height="{height}" viewBox="0 0 {CHART_WIDTH} {height}" role="img"'
        f' aria-label="{escape(LABELS[metric])}: absolute uplift with 95% interval per scenario">',
        f'<line class="zero" x1="{x(0):.2f}" x2="{x(0):.2f}" y1="{PAD / 2}" y2="{height - PAD / 2}"/>',
    ]
    for i, (scenario, r) in enumerate(rows):
        y = PAD + i * ROW_HEIGHT
        mid = y + ROW_HEIGHT / 2
        d = r["abs_uplift"]
        parts.append(f'<text x="{LABEL_WIDTH}" y="{mid + 4}" text-anchor="end">{escape(scenario)}</text>')
        if d is not None:
            kind = "up" if d >= 0 else "down"
            weak = " weak" if r["under_powered"] else ""
            parts.append(
                f'<rect class="bar {kind}{weak}" data-scenario="{escape(scenario)}" data-value="{d!r}"'
                f' x="{x(min(0.0, d)):.4f}" y="{y + 6}" width="{abs(d) * scale:.4f}"'
                f' height="{ROW_HEIGHT - 12}"/>'
            )
        if r["abs_low"] is not None and r["abs_high"] is not None:
            lo, hi = x(r["abs_low"]), x(r["abs_high"])
            parts.append(
                f'<g class="whisker" data-scenario="{escape(scenario)}" data-low="{r["abs_low"]!r}"'
                f' data-high="{r["abs_high"]!r}">'
                f'<line class="whisker" x1="{lo:.4f}" x2="{hi:.4f}" y1="{mid}" y2="{mid}"/>'
                f'<line class="whisker" x1="{lo:.4f}" x2="{lo:.4f}" y1="{mid - 6}" y2="{mid + 6}"/>'
                f'<line class="whisker" x1="{hi:.4f}" x2="{hi:.4f}" y1="{mid - 6}" y2="{mid + 6}"/></g>'
            )
        label = signed(metric, d) + (" (under-powered)" if r["under_powered"] else "")
        parts.append(f'<text x="{CHART_WIDTH - VALUE_WIDTH}" y="{mid + 4}">{escape(label)}</text>')
    parts.append("</svg>")
    return (
        f"<figure><figcaption>{escape(LABELS[metric])}: absolute uplift, treated minus control,"
        f" with its 95% interval</figcaption>{''.join(parts)}</figure>"
    )


def render_html(report: UpliftReport) -> str:
    """The whole page, as a string."""
    title = f"Uplift report: run {report.run_id}" + (" (PARTIAL)" if report.is_partial else "")
    last = report.window_start + timedelta(days=report.window_days - 1)
    window = f"{report.window_start} to {last} ({report.window_days} days)"
    partial = f'<p class="partial" id="partial">{escape(PARTIAL_LABEL)}</p>' if report.is_partial else ""
    weak = report.under_powered()
    power = (
        "<ul class=power>" + "".join(f"<li>{escape(s)}</li>" for s in weak) + "</ul>"
        if weak
        else "<p>Every comparison is powered: each minimum detectable effect is below the"
        " observed uplift.</p>"
    )
    sections = "".join(_table(report, s) for s in (OVERALL, *report.scenarios))
    charts = "".join(_chart(report, m) for m in METRICS)
    return f"""<!doctype html>
<html lang="en"><head><meta charset="utf-8"><title>{escape(title)}</title>
<style>{CSS}</style></head>
<body>
<h1>{escape(title)}</h1>
{partial}
<p class="meta">campaign {escape(report.campaign_id or "")} &middot; window {escape(window)} &middot;
measured {escape(report.measured_at.strftime("%Y-%m-%d %H:%M"))} &middot; treated against the control
group held out at scoring time, every customer of the run counted (intention to treat).</p>
{sections}
<h2>Charts</h2>
{charts}
<h2 id="power">Statistical power</h2>
<p>A comparison is under-powered when a group has fewer than {MIN_GROUP_SIZE} customers or when its
minimum detectable effect (two-sided 5% test, 80% power, at these group sizes) exceeds the observed
uplift: such a result can neither confirm nor rule out an effect of that size.</p>
{power}
</body></html>
"""


def write_html(report: UpliftReport, out: Path) -> Path:
    out = Path(out)
    out.write_text(render_html(report), encoding="utf-8")
    return out
