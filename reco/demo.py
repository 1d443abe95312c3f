"""``reco demo``: the main job end to end on the synthetic wine merchant.

Generate the demo exports (once), load them as a client would (one batch per export file,
oldest first, so that later CRM exports update earlier ones), build the warehouse, score.
Then the campaign loop, once per database: export the run, record its contacts as sent the day
it was scored, simulate the 30 days that follow with the campaign simulator's known lifts
(reco/demo_data/campaign.py), load them, rebuild the warehouse, measure the outcomes and
compare treated with control. Every step is idempotent: running the demo twice loads nothing
new, scores a new run and shows the campaign measured the first time again.
"""

from __future__ import annotations

import json
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import timedelta
from pathlib import Path

from reco.campaign.contacts import record_contacts
from reco.campaign.export import export_run
from reco.campaign.outcomes import measure_outcomes
from reco.campaign.report import UpliftReport, build_report
from reco.db import migrate
from reco.db.engine import psycopg_connect
from reco.db.target import Database
from reco.dbt.runner import NodeDone, run_dbt
from reco.demo_data import DEFAULT_CUSTOMERS, DEFAULT_SEED, Manifest, ensure
from reco.demo_data.campaign import DEFAULT_DAYS, TRUTH_FILE, simulate_campaign
from reco.ingest import LoadOptions, LoadProgress, LoadReport, load_files
from reco.scoring.runs import RunSummary, run_scoring
from reco.settings import get_settings

#: Load order: master data first, then facts; within an entity, files in manifest order
#: (oldest export first).
LOAD_ORDER = ("products", "customers", "sales", "aliases", "contacts")


@dataclass
class DemoResult:
    manifest: Manifest | None = None
    loads: list[LoadReport] = field(default_factory=list)
    run: RunSummary | None = None
    #: the run whose campaign the demo simulated and measured (the first run of the database)
    campaign_run: str | None = None
    #: the simulator's truth for it (campaign_truth.json) and the report that measured it
    truth: dict | None = None
    report: UpliftReport | None = None


def demo_dir() -> Path:
    return get_settings().home() / "demo-data"


def plan(
    db: Database,
    *,
    customers: int = DEFAULT_CUSTOMERS,
    seed: int = DEFAULT_SEED,
    data_dir: Path | None = None,
    on_node: Callable[[NodeDone], None] | None = None,
    on_load: Callable[[LoadProgress], None] | None = None,
) -> tuple[DemoResult, list[tuple[str, Callable[[], object]]]]:
    """The demo as named steps (for a progress bar) filling one ``DemoResult``; ``on_node`` is
    told of each dbt node finished, ``on_load`` of each load's progress."""
    result = DemoResult()
    data_dir = data_dir or demo_dir()
    hooks = Hooks(on_node, on_load)

    def generate() -> None:
        result.manifest = ensure(data_dir, customers, seed)

    def load(entity: str) -> Callable[[], None]:
        def step() -> None:
            assert result.manifest is not None
            for f in (f for f in result.manifest.files if f.entity == entity):
                result.loads.append(hooks.load(db, entity, data_dir / f.name))

        return step

    steps: list[tuple[str, Callable[[], object]]] = [
        ("migrate (alembic upgrade head)", lambda: migrate.upgrade(db)),
        (f"demo exports ({customers:,} customers, seed {seed})", generate),
    ]
    steps += [(f"load {entity}", load(entity)) for entity in LOAD_ORDER]
    steps.append(("build the warehouse (dbt build)", lambda: hooks.build(db)))

    def score() -> None:
        # Score the day after the exports end, as a CRM team would on receiving them (the demo
        # data end on a fixed date, so "today" would make every customer look lapsed).
        assert result.manifest is not None
        result.run = run_scoring(db, None, as_of=result.manifest.end_date + timedelta(days=1))

    steps.append(("score (reco score)", score))
    steps += campaign_steps(db, result, data_dir / "campaign", seed, hooks)
    return result, steps


@dataclass(frozen=True)
class Hooks:
    """Where the demo's loads and dbt builds report their progress."""

    on_node: Callable[[NodeDone], None] | None = None
    on_load: Callable[[LoadProgress], None] | None = None

    def load(self, db: Database, entity: str, path: Path) -> LoadReport:
        return load_files(db, entity, [path], LoadOptions(), on_progress=self.on_load)

    def build(self, db: Database) -> None:
        run_dbt(db, ["build"], capture=True, on_node=self.on_node)


def _measured_campaign(db: Database) -> str | None:
    """The run whose campaign an earlier demo measured in this database, if any."""
    with psycopg_connect(db) as conn:
        row = conn.execute("select min(run_id) from reco.run_outcome").fetchone()
    return row[0] if row else None


def campaign_steps(
    db: Database, result: DemoResult, out_dir: Path, seed: int, hooks: Hooks | None = None
) -> list[tuple[str, Callable[[], object]]]:
    """The campaign loop on the run just scored, the first time; later demos report it again."""
    todo: dict[str, bool] = {}
    hooks = hooks or Hooks()

    def send() -> None:
        assert result.run is not None and result.manifest is not None
        result.campaign_run = _measured_campaign(db)
        todo["new"] = result.campaign_run is None
        if todo["new"]:
            result.campaign_run = result.run.run_id
            sent = result.manifest.end_date + timedelta(days=1)  # sent the day it was scored
            out_dir.mkdir(parents=True, exist_ok=True)
            export_run(db, result.campaign_run, out_dir / "campaign.csv", as_of=sent)
            record_contacts(db, result.campaign_run, sent_at=sent)

    def simulate() -> None:
        if todo["new"]:
            assert result.campaign_run is not None
            period = simulate_campaign(db, result.campaign_run, out_dir, days=DEFAULT_DAYS, seed=seed)
            result.loads.append(hooks.load(db, "sales", period.sales_path))
            hooks.build(db)

    def measure() -> None:
        assert result.campaign_run is not None
        if todo["new"]:
            measure_outcomes(db, result.campaign_run, window_days=DEFAULT_DAYS)
        result.report = build_report(db, result.campaign_run)
        truth = out_dir / TRUTH_FILE
        facts = json.loads(truth.read_text(encoding="utf-8")) if truth.is_file() else None
        result.truth = facts if facts and facts["run_id"] == result.campaign_run else None

    return [
        ("campaign: export and record the contacts", send),
        (f"simulate {DEFAULT_DAYS} days after it, load them, rebuild the warehouse", simulate),
        ("measure the outcomes, compare with the control group", measure),
    ]


def sample_recommendations(db: Database, run_id: str) -> list[dict]:
    """For a glance: a few customers of each scenario, their products and the reasons in words
    (the sample ``reco runs show`` prints)."""
    from reco.scoring.runs import sample_items

    with psycopg_connect(db) as conn:
        return sample_items(conn, run_id, per_scenario=1)
