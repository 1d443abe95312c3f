"""Against a real database and the real dbt project: the rebuild as of a cutoff reads no
line on or after the cutoff, lives in its own schemas, and the live marts are untouched."""

from __future__ import annotations

import uuid
from datetime import date

import pytest
from sqlalchemy import text

from reco.backtest import run, storage
from reco.db.engine import connect

CUTOFF = date(2021, 6, 1)


def _line(i: int, customer: str, order: str, product: str, day: str, qty: float = 1.0):
    return {
        "line_key": str(uuid.UUID(int=i)),
        "doc_ref": order,
        "order_date": date.fromisoformat(day),
        "customer_code": customer,
        "product_key": product,
        "product_label": f"Wine {product}",  # not a fee code (B, D, M are)
        "quantity": qty,
        "unit_price": 10.0,
        "amount_ht": 10.0 * qty,
        "line_type": "sale" if qty > 0 else "return",
        "batch_id": "b1",
        "file_no": 1,
        "source_row": i,
    }


LINES = [
    ("alice", "o1", "SKU-A", "2021-01-10"),
    ("alice", "o2", "SKU-A", "2021-03-01"),
    ("alice", "o2", "SKU-B", "2021-03-01"),
    ("bob", "o3", "SKU-A", "2021-05-01"),
    ("bob", "o3", "SKU-C", "2021-05-01"),
    ("carol", "o4", "SKU-B", "2021-05-31"),
    # on and after the cutoff: LATE is bought by everyone, only after the cutoff
    ("alice", "o5", "SKU-A", "2021-06-01"),
    ("alice", "o5", "LATE", "2021-06-01"),
    ("bob", "o6", "LATE", "2021-06-15"),
    ("carol", "o7", "LATE", "2021-07-01"),
    ("dave", "o8", "LATE", "2021-07-01"),  # a customer who only appears after the cutoff
]


@pytest.fixture
def loaded(use_db):
    rows = [_line(i, *row) for i, row in enumerate(LINES, start=1)]
    with connect(use_db) as conn:
        conn.execute(
            text(
                "insert into raw.load_batch (batch_id, entity, status, files, rows_read,"
                " rows_loaded, rows_rejected, rows_duplicate, options)"
                " values ('b1', 'sales', 'succeeded', '[]', :n, :n, 0, 0, '{}')"
            ),
            {"n": len(rows)},
        )
        conn.execute(
            text(
                "insert into raw.sales_line (line_key, doc_ref, order_date, customer_code,"
                " product_key, product_label, quantity, unit_price, amount_ht, line_type,"
                " batch_id, file_no, source_row) values (cast(:line_key as uuid), :doc_ref, :order_date,"
                " :customer_code, :product_key, :product_label, :quantity, :unit_price,"
                " :amount_ht, :line_type, :batch_id, :file_no, :source_row)"
            ),
            rows,
        )
    return use_db


def test_backtest_scores_from_a_rebuild_that_holds_no_line_on_or_after_the_cutoff(loaded):
    report = run.run_backtest(loaded, [CUTOFF], 90, n_resamples=50, keep_schemas=True)
    prefix = f"{report.backtest_id}_"
    with connect(loaded) as conn:
        last_line = conn.execute(text(f'select max(order_date) from "{prefix}marts".order_line'))
        last_profile = conn.execute(
            text(f'select max(last_order_date) from "{prefix}marts".client_master_profile')
        )
        late = conn.execute(
            text(f"select count(*) from \"{prefix}marts\".order_line where product_key = 'LATE'")
        )
        customers = conn.execute(
            text(f'select customer_code from "{prefix}marts".client_master_profile order by 1')
        )
        assert last_line.scalar_one() < CUTOFF
        assert last_profile.scalar_one() < CUTOFF
        assert late.scalar_one() == 0
        assert [c for (c,) in customers] == ["alice", "bob", "carol"]
        # the live schemas were neither built nor touched
        live = conn.execute(text("select count(*) from pg_namespace where nspname = 'marts'"))
        assert live.scalar_one() == 0
    assert storage.read_purchase_events(loaded, prefix)["order_date"].max() < CUTOFF

    (result,) = report.cutoffs
    assert result.n_eligible == 3  # alice, bob, carol; dave has no history
    assert result.n_scored == 3
    # LATE, bought by everyone but only from the cutoff on, was never a candidate: no method
    # hits for bob, carol (they bought only LATE), the platform at most alice's SKU-A
    platform = result.table.filter(metric="hit", scope="overall", method="PLATFORM")
    assert platform["value"].item() <= 1 / 3 + 1e-6
    assert "LATE" not in set(result.platform_recs["product_key"])
    assert platform["n_customers"].item() == 3
    with connect(loaded) as conn:
        saved = conn.execute(
            text("select count(*) from reco.backtest_result where backtest_id = :i"),
            {"i": report.backtest_id},
        ).scalar_one()
    assert saved == result.table.height
    assert sorted(storage.drop_schemas(loaded, prefix)) == [
        f"{prefix}{layer}" for layer in ("intermediate", "lookups", "marts", "staging")
    ] + [f"{prefix}truth_{layer}" for layer in ("intermediate", "lookups", "marts", "staging")]
