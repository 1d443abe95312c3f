"""``reco demo``: the main job end to end on the synthetic wine merchant.

Generate the demo exports (once), load them as a client would (one batch per export file,
oldest first, so that later CRM exports update earlier ones), build the warehouse, score.
Every step is idempotent: running the demo twice loads nothing new and scores a new run.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import timedelta
from pathlib import Path

from reco.db import migrate
from reco.db.resolver import Database
from reco.dbt.runner import run_dbt
from reco.demo_data import Manifest, ensure
from reco.ingest import LoadOptions, LoadReport, load_files
from reco.scoring.runs import RunSummary, run_scoring
from reco.settings import get_settings

#: Load order: master data first, then facts; within an entity, files in manifest order
#: (oldest export first).
LOAD_ORDER = ("products", "customers", "sales", "aliases", "contacts")
DEFAULT_CUSTOMERS = 5_000
DEFAULT_SEED = 42


@dataclass
class DemoResult:
    manifest: Manifest | None = None
    loads: list[LoadReport] = field(default_factory=list)
    run: RunSummary | None = None


def demo_dir() -> Path:
    return get_settings().home() / "demo-data"


def plan(
    db: Database,
    *,
    customers: int = DEFAULT_CUSTOMERS,
    seed: int = DEFAULT_SEED,
    data_dir: Path | None = None,
) -> tuple[DemoResult, list[tuple[str, Callable[[], object]]]]:
    """The demo as named steps (for a progress bar) filling one ``DemoResult``."""
    result = DemoResult()
    data_dir = data_dir or demo_dir()

    def generate() -> None:
        result.manifest = ensure(data_dir, customers, seed)

    def load(entity: str) -> Callable[[], None]:
        def step() -> None:
            assert result.manifest is not None
            for f in (f for f in result.manifest.files if f.entity == entity):
                result.loads.append(load_files(db, entity, [data_dir / f.name], LoadOptions()))

        return step

    steps: list[tuple[str, Callable[[], object]]] = [
        ("migrate (alembic upgrade head)", lambda: migrate.upgrade(db)),
        (f"demo exports ({customers:,} customers, seed {seed})", generate),
    ]
    steps += [(f"load {entity}", load(entity)) for entity in LOAD_ORDER]
    steps.append(("build the warehouse (dbt build)", lambda: run_dbt(db, ["build"], capture=True)))

    def score() -> None:
        # Score the day after the exports end, as a CRM team would on receiving them (the demo
        # data end on a fixed date, so "today" would make every customer look lapsed).
        assert result.manifest is not None
        result.run = run_scoring(db, None, as_of=result.manifest.end_date + timedelta(days=1))

    steps.append(("score (reco score)", score))
    return result, steps


SAMPLE_SQL = """
    with picked as (
        select distinct on (scenario) customer_code
        from reco.reco_item
        where run_id = %(run_id)s and rank = 1
        order by scenario, score desc, customer_code
    )
    select i.customer_code, i.scenario, i.rank, i.product_key, p.product_label, i.score,
           i.reasons_json::text as reasons
    from reco.reco_item i
    join picked using (customer_code)
    left join marts.product p using (product_key)
    where i.run_id = %(run_id)s
    order by i.customer_code, i.rank
"""


def sample_recommendations(db: Database, run_id: str) -> list[dict]:
    """For a glance: in each scenario, the recommendations of the customer with the best top score."""
    import psycopg
    from psycopg.rows import dict_row

    with psycopg.connect(db.conninfo(), row_factory=dict_row) as conn:
        return conn.execute(SAMPLE_SQL, {"run_id": run_id}).fetchall()
