"""reco report: the uplift tables, JSON and a self-contained HTML page, checked in a real
headless Chromium."""

from __future__ import annotations

import json
import shutil
import subprocess
from html.parser import HTMLParser

import polars as pl
import pytest

from reco.campaign.report import OVERALL, PARTIAL_LABEL, build_report, value
from reco.campaign.uplift import METRICS, compare
from reco.cli._common import console
from reco.cli.main import main
from tests.campaign.conftest import sql


class _Dom(HTMLParser):
    """The elements (tag, attributes) and the visible text of a page."""

    def __init__(self) -> None:
        super().__init__()
        self.elements: list[tuple[str, dict]] = []
        self.text: list[str] = []

    def handle_starttag(self, tag, attrs):
        self.elements.append((tag, dict(attrs)))

    def handle_data(self, data):
        if data.strip():
            self.text.append(data.strip())

    def find(self, tag: str, cls: str | None = None) -> list[dict]:
        return [
            a for t, a in self.elements if t == tag and (cls is None or cls in a.get("class", "").split())
        ]


def _rendered(path, tmp_path) -> _Dom:
    """The DOM Chromium builds from the file (headless, no network needed)."""
    chromium = shutil.which("chromium") or shutil.which("chromium-browser")
    assert chromium, "chromium is needed for this test: apt-get install -y chromium (see .ci/run)"
    out = subprocess.run(
        [
            chromium,
            "--headless",
            "--no-sandbox",
            "--disable-gpu",
            "--disable-dev-shm-usage",
            f"--user-data-dir={tmp_path / 'chromium'}",
            "--dump-dom",
            path.as_uri(),
        ],
        capture_output=True,
        text=True,
        timeout=120,
        check=True,
    ).stdout
    dom = _Dom()
    dom.feed(out)
    return dom


def test_the_report_prints_each_scenario_with_intervals_and_says_what_is_under_powered(
    measured, capsys, monkeypatch
):
    monkeypatch.setattr(console, "width", 140)
    assert main(["report", "--run-id", "r1"]) == 0
    out = capsys.readouterr().out
    scenarios = [r[0] for r in sql(measured, "select distinct scenario from reco.run_outcome order by 1")]
    for scenario in [OVERALL, *scenarios]:
        assert f"{scenario}:" in out
    outcomes = pl.DataFrame(
        sql(measured, "select grp, n_orders, revenue::float8, bought_recommended from reco.run_outcome"),
        schema=["grp", "n_orders", "revenue", "bought_recommended"],
        orient="row",
    )
    overall = {r["metric"]: r for r in compare(outcomes).iter_rows(named=True)}
    assert value("conversion", overall["conversion"]["treatment"]) in out
    assert value("revenue_per_customer", overall["revenue_per_customer"]["control"]) in out
    assert "incremental revenue" in out and "95% interval" in out and "MDE" in out
    assert "Under-powered comparisons" in out and "minimum detectable effect" in out
    assert "PARTIAL" not in out


def test_the_json_has_every_metric_overall_and_per_scenario(measured, capsys):
    assert main(["report", "--run-id", "r1", "--json"]) == 0
    doc = json.loads(capsys.readouterr().out)
    n_scenarios = sql(measured, "select count(distinct scenario) from reco.run_outcome")[0][0]
    assert doc["is_partial"] is False and doc["status"] == "final"
    assert len(doc["comparisons"]) == 4 * (1 + n_scenarios)
    assert {c["metric"] for c in doc["comparisons"]} == set(METRICS)


def test_a_run_without_outcomes_is_refused_in_one_line(sent, capsys):
    assert main(["report", "--run-id", "r1"]) == 1
    err = capsys.readouterr().err.strip()
    assert err == "error: run 'r1' has no outcomes: run reco outcomes --run-id r1 first"


def test_the_html_page_shows_the_figures_and_charts_in_a_headless_browser(measured, tmp_path, capsys):
    final = tmp_path / "final.html"
    assert main(["report", "--run-id", "r1", "--html", str(final)]) == 0
    assert "PARTIAL" not in final.read_text()
    sql(measured, "update reco.run_outcome set is_partial = true")  # as --partial writes it
    page = tmp_path / "partial.html"
    assert main(["report", "--run-id", "r1", "--html", str(page)]) == 0
    html = page.read_text()
    assert "http" not in html.lower() and "src=" not in html and "<script" not in html  # self-contained
    report = build_report(measured, "r1")
    dom = _rendered(page, tmp_path)
    text = " ".join(dom.text)
    assert PARTIAL_LABEL in text and "(PARTIAL)" in text
    assert dom.find("p", "partial")
    shown = {a["data-scenario"] for a in dom.find("section", "scenario")}
    assert shown == {OVERALL, *report.scenarios} and len(report.scenarios) >= 2
    for row in report.table.iter_rows(named=True):  # every figure of the tables is on the page
        assert value(row["metric"], row["treatment"]) in text
        assert value(row["metric"], row["control"]) in text
    charts = {a["data-metric"]: float(a["data-px-per-unit"]) for a in dom.find("svg", "chart")}
    assert set(charts) == set(METRICS)
    bars = dom.find("rect", "bar")
    assert len(bars) == len(report.table.filter(pl.col("abs_uplift").is_not_null()))
    expected = {(r["scenario"], r["metric"]): r for r in report.table.iter_rows(named=True)}
    svgs = iter(dom.elements)
    metric = None
    for tag, attrs in svgs:  # each bar is as long as its uplift on its chart's scale
        if tag == "svg":
            metric = attrs["data-metric"]
        if tag == "rect" and "bar" in attrs["class"]:
            row = expected[(attrs["data-scenario"], metric)]
            assert float(attrs["width"]) == pytest.approx(abs(row["abs_uplift"]) * charts[metric], abs=1e-3)
            assert ("up" in attrs["class"]) == (row["abs_uplift"] >= 0)
            assert ("weak" in attrs["class"]) == row["under_powered"]
    whiskers = dom.find("g", "whisker")
    assert len(whiskers) == len(report.table.filter(pl.col("abs_low").is_not_null()))
    for w in whiskers:
        assert float(w["data-low"]) <= float(w["data-high"])
    assert "under-powered" in text


def test_runs_show_prints_the_outcomes_and_labels_them_partial(measured, capsys, monkeypatch):
    monkeypatch.setattr(console, "width", 200)
    assert main(["runs", "show", "r1"]) == 0
    out = capsys.readouterr().out
    assert "outcomes, 30 days from" in out and PARTIAL_LABEL not in out
    sql(measured, "update reco.run_outcome set is_partial = true")
    assert main(["runs", "show", "r1", "--json"]) == 0
    outcomes = json.loads(capsys.readouterr().out)["outcomes"]
    assert [o["grp"] for o in outcomes] == ["treatment", "control"] and all(o["is_partial"] for o in outcomes)
    n = sql(measured, "select count(*) from reco.run_outcome")[0][0]
    assert sum(o["customers"] for o in outcomes) == n
    assert main(["runs", "show", "r1"]) == 0
    assert PARTIAL_LABEL in capsys.readouterr().out
