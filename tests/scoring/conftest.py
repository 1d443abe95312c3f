"""Fixtures for the scorer: mart tables written by the tests themselves (the contract of
docs/architecture.md), so the scorer is tested without dbt."""

from __future__ import annotations

from datetime import date

import pytest

from tests.support.synthetic_marts import Shape, generate_marts, write_marts

AS_OF = date(2026, 1, 1)


@pytest.fixture
def marts(use_db):
    """``use_db`` with generated marts: returns the frames written."""
    frames = generate_marts(Shape(n_customers=300, n_products=60), seed=7, as_of=AS_OF)
    write_marts(use_db, frames)
    return frames
