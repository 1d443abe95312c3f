"""A scored run on generated marts (tests/scoring/conftest.py), and helpers to read it back."""

from __future__ import annotations

import psycopg
import pytest

from reco.scoring import run_scoring
from tests.scoring.conftest import AS_OF, marts  # noqa: F401  (the fixture)


def sql(db, query, params=()):
    with psycopg.connect(db.conninfo(), autocommit=True) as conn:
        cur = conn.execute(query, params)
        return cur.fetchall() if cur.description else []


def codes(db, run_id: str, grp: str) -> set[str]:
    rows = sql(
        db, "select customer_code from reco.run_customer where run_id = %s and grp = %s", (run_id, grp)
    )
    return {r[0] for r in rows}


@pytest.fixture
def scored(use_db, marts):  # noqa: F811
    """Run ``r1`` scored as of AS_OF with a 20% control group."""
    run_scoring(use_db, "r1", as_of=AS_OF)
    return use_db
