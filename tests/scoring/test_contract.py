"""The scorer reads what dbt's contracts promise, and the marts the tests make are those contracts."""

from __future__ import annotations

from reco.scoring.inputs import READ_COLUMNS
from tests.support.synthetic_marts import CONTRACT_YAML, Shape, contract, ddl, generate_marts


def test_every_column_the_scorer_reads_is_in_the_dbt_contract_of_its_mart():
    missing = {
        f"{table}.{column}"
        for table, columns in READ_COLUMNS.items()
        for column in columns
        if column not in {c.name for c in contract()[table]}
    }
    assert missing == set(), f"not in {CONTRACT_YAML.name}"


def test_generated_marts_have_only_contract_columns_with_dbt_types_and_keys():
    frames = generate_marts(Shape(n_customers=20, n_products=5))
    for table, frame in frames.items():
        assert set(frame.columns) <= {c.name for c in contract()[table]}, table
    assert "unit_price numeric(18,4)" in ddl("product")  # the dbt type, not a copy's
    assert ddl("customer").endswith("primary key (customer_code)")
