"""The warehouse built on the wine-merchant sample (tests/dbt/warehouse_sample.py): `dbt build`
(seeds, models, data tests and unit tests) passes, and the marts say what they should."""

from __future__ import annotations

import json
import os
from datetime import datetime
from pathlib import Path

import psycopg
import pytest
from warehouse_sample import by_key, query

from reco.dbt.docs import build_docs
from reco.dbt.runner import run_dbt
from reco.errors import RecoError


@pytest.fixture(scope="module")
def customers(wine_warehouse) -> dict:
    return by_key(query(wine_warehouse, "select * from marts.customer"), "customer_code")


@pytest.fixture(scope="module")
def profiles(wine_warehouse) -> dict:
    return by_key(query(wine_warehouse, "select * from marts.client_master_profile"), "customer_code")


def test_duplicate_emails_across_codes_and_batches_merge_into_the_oldest_account(customers):
    assert set(customers) == {"C001", "C002", "C003", "C004", "C005", "C206", "C999"}
    # C006 -(erin@a)- C106 -(erin@b)- C206: two hops, and C206 signed up first.
    assert customers["C206"]["n_source_codes"] == 3
    assert customers["C206"]["email"] == "erin@b.example"
    # C001 and C104 share alice@example.com in different case and batches.
    assert customers["C001"]["n_source_codes"] == 2
    assert customers["C001"]["email"] == "alice@example.com"


def test_every_source_code_maps_to_its_master(wine_warehouse):
    code_map = {
        r["source_customer_code"]: r["customer_code"]
        for r in query(wine_warehouse, "select * from marts.customer_code_map")
    }
    assert code_map == {
        "C001": "C001",
        "C104": "C001",
        "C002": "C002",
        "C003": "C003",
        "C004": "C004",
        "C005": "C005",
        "C006": "C206",
        "C106": "C206",
        "C206": "C206",
        "C999": "C999",
    }


def test_details_come_from_the_latest_record_and_batch_id_is_its_batch(customers):
    assert customers["C001"]["first_name"] == "Alicia"  # latest record of C001
    assert customers["C001"]["last_name"] == "Martin"  # latest non-blank value
    assert customers["C001"]["batch_id"] == "b_cust2"
    assert customers["C999"]["batch_id"] == "b_sales1"


def test_opt_out_anywhere_wins_and_bounce_follows_the_latest_status_of_the_address(customers):
    alice, bob, carol, dave = (customers[c] for c in ("C001", "C002", "C003", "C004"))
    assert alice["is_optout"] and not alice["is_contactable"]  # C104 opted out
    assert not bob["is_optout"]  # his records: bounced, then fixed (his June bounce: below)
    assert carol["is_bounced"] and not carol["is_contactable"]  # latest status bounced
    assert dave["is_contactable"]


def test_the_tools_hard_bounce_and_unsubscribe_change_consent_at_the_build(customers):
    bob, dave, erin = (customers[c] for c in ("C002", "C004", "C206"))
    # bob's records say his address was fixed on 2024-04-01; the tool bounced it on 2024-06-02
    assert bob["is_bounced"] and not bob["is_contactable"]
    # erin unsubscribed as C106, one of her merged codes
    assert erin["is_optout"] and not erin["is_contactable"]
    # opened and clicked change nothing
    assert dave["is_contactable"] and not dave["is_optout"] and not dave["is_bounced"]


def test_customers_without_a_usable_email_are_not_contactable(customers):
    assert customers["C005"]["email"] is None  # 'not-an-email'
    assert customers["C999"]["email"] is None  # known only from sales
    assert not customers["C005"]["is_contactable"]
    assert not customers["C999"]["is_contactable"]


def test_label_variants_map_through_catalogue_overrides_and_sales_labels(wine_warehouse):
    lines = by_key(query(wine_warehouse, "select * from marts.order_line"), "id")
    assert lines[5]["product_key"] == "W001"  # 'CHATEAU MARGAUX - 0,75L' -> catalogue label
    assert lines[6]["product_key"] == "W001"  # 'Margaux Grand Vin 2016' -> loaded override
    assert lines[7]["product_key"] == "W004"  # 'côtes-du-rhône ROUGE' -> catalogue label
    assert lines[14]["product_key"] == "X100"  # 'ROSE DE PROVENCE' -> learnt from sales
    aliases = by_key(query(wine_warehouse, "select * from marts.product_alias"), "alias_label")
    assert aliases["margaux grand vin"]["alias_source"] == "override_loaded"
    assert aliases["chateau margaux"] == {
        "alias_label": "chateau margaux",
        "product_key": "W001",
        "alias_source": "catalogue",
    }
    assert aliases["rose de provence"]["alias_source"] == "sales_exact"


def test_unmapped_labels_surface_with_their_revenue_at_stake(wine_warehouse):
    rows = query(wine_warehouse, "select * from marts.unmapped_sales_labels")
    assert [(r["alias_label"], r["n_lines"], r["revenue_ht_at_stake"], r["curation_rank"]) for r in rows] == [
        ("vin mystere inconnu", 1, 30.0, 1)
    ]


def test_an_override_pointing_at_no_product_is_listed_and_not_applied(wine_warehouse):
    rows = query(wine_warehouse, "select alias_label, product_key from marts.unmatched_alias_overrides")
    assert rows == [{"alias_label": "Bad Alias", "product_key": "NOPE"}]
    assert query(wine_warehouse, "select * from marts.product_alias where product_key = 'NOPE'") == []


def test_products_take_the_latest_catalogue_and_derive_what_it_lacks(wine_warehouse):
    products = by_key(query(wine_warehouse, "select * from marts.product"), "product_key")
    assert set(products) == {"W001", "W002", "W003", "W004", "W005", "W006", "X100"}  # no POST
    assert float(products["W002"]["unit_price"]) == 24.0  # second catalogue batch wins
    assert products["W005"]["price_band"] == "40_80"  # 35 excl. tax = 42 incl. 20 % VAT
    assert products["W004"]["premium_tier"] == 0  # cheapest Red, derived
    assert products["W001"]["premium_tier"] == 3  # from the catalogue
    assert products["W001"]["season_tags"] == ["christmas"]
    assert products["W005"]["sucrosite_niveau"] == "sweet"
    sales_only = products["X100"]
    assert not sales_only["has_catalogue"]
    assert sales_only["product_label"] == "Rosé de Provence 2023"
    assert sales_only["family_crm"] is None and sales_only["aroma_fruity"] is None
    # recent distinct buyers / the most: W003 and W004 have 2 buyers in the last 90 days.
    assert products["W003"]["global_popularity_score"] == 1.0
    assert products["W001"]["global_popularity_score"] == 0.5


def test_order_lines_flag_returns_cancellations_and_postage(wine_warehouse):
    lines = by_key(query(wine_warehouse, "select * from marts.order_line"), "id")
    assert len(lines) == 17  # every raw line, none dropped
    assert (lines[3]["line_type"], lines[3]["is_purchase"], lines[3]["amount_ht"]) == (
        "return",
        False,
        -8.0,
    )
    assert (lines[11]["line_type"], lines[11]["is_purchase"]) == ("cancellation", False)
    assert (lines[9]["line_type"], lines[9]["product_key"]) == ("adjustment", None)  # POSTAGE
    assert lines[4]["customer_code"] == "C001"  # bought by C104, merged into C001
    assert lines[1]["amount_ttc"] == pytest.approx(66.0)  # 55 + 20 % VAT


def test_profile_has_rfm_shares_and_aroma_as_of_the_latest_order(profiles):
    alice = profiles["C001"]
    assert str(alice["as_of_date"]) == "2024-06-30"
    assert alice["recence_jours"] == 112  # last purchase 2024-03-10
    assert alice["nb_commandes"] == 2  # D1 (as C001) and D2 (as C104)
    assert alice["ca_ht"] == pytest.approx(55 + 48 + 44 - 8)  # the return is netted
    assert alice["segment"] is not None and len(alice["rfm"]) == 3
    assert alice["top_family_1"] == "Red"
    assert alice["top_family_1_ca_share"] == pytest.approx(103 / 147)
    assert alice["top_family_2_ca_share"] == pytest.approx(44 / 147)
    assert alice["top_sugar_1_ca_share"] == pytest.approx(1.0)
    assert 0 < alice["aroma_confidence"] <= 1 and alice["aroma_axe_1"] is not None
    assert set(profiles) == {"C001", "C002", "C003", "C004", "C005", "C206", "C999"}


def test_a_customer_without_aroma_data_has_zero_confidence(profiles):
    sales_only = profiles["C999"]
    assert sales_only["aroma_confidence"] == 0
    assert sales_only["aroma_level"] == "none"
    assert sales_only["aroma_axe_1"] is None and sales_only["top_family_1"] is None
    assert profiles["C004"]["n_unmapped_lines"] == 1


def test_contact_history_puts_both_sources_on_master_codes(wine_warehouse):
    rows = by_key(query(wine_warehouse, "select * from marts.contact_history"), "contact_id")
    assert rows["import:1"]["customer_code"] == "C001"  # contacted as C104
    assert rows["import:2"]["status"] == "bounced"
    assert (rows["reco:1"]["source"], rows["reco:1"]["customer_code"]) == ("reco", "C003")


def test_spec_indexes_exist_on_the_marts(wine_warehouse):
    rows = query(
        wine_warehouse,
        "select tablename, indexname, indexdef from pg_indexes where schemaname = 'marts'",
    )
    defs = {(r["tablename"], r["indexname"], r["indexdef"].split(" USING btree ")[1]) for r in rows}
    assert ("customer", "ix_customer_email", "(email)") in defs
    assert ("product", "ix_product_family", "(family_crm)") in defs
    assert ("order_line", "ix_orderline_customer_date", "(customer_code, order_date)") in defs


def test_a_backtest_rebuild_as_of_an_earlier_date_uses_no_later_line(wine_warehouse):
    run_dbt(
        wine_warehouse,
        [
            "build",
            "--threads",
            "4",
            "--resource-type",
            "seed",
            "--resource-type",
            "model",
            "--vars",
            "{as_of_date: '2024-05-31', schema_prefix: 'bt_'}",
        ],
        capture=True,
    )
    lines = query(wine_warehouse, "select max(order_date)::text as last from bt_marts.order_line")
    assert lines == [{"last": "2024-05-20"}]
    profiles = by_key(query(wine_warehouse, "select * from bt_marts.client_master_profile"), "customer_code")
    assert "C999" not in profiles  # first bought in June
    assert profiles["C206"]["nb_commandes"] == 1  # C106's June order is in the future
    assert str(profiles["C001"]["as_of_date"]) == "2024-05-31"
    assert profiles["C001"]["recence_jours"] == 82
    products = {r["product_key"] for r in query(wine_warehouse, "select * from bt_marts.product")}
    assert "X100" not in products  # first sold in June
    # the live marts are untouched
    assert query(wine_warehouse, "select count(*) as n from marts.order_line") == [{"n": 17}]


def test_as_of_date_and_schema_prefix_come_from_the_environment_given_to_run_dbt(wine_warehouse, monkeypatch):
    # exports left in the caller's shell are not what dbt sees: project_env is
    monkeypatch.setenv("RECO_SCHEMA_PREFIX", "bt_stray_")
    monkeypatch.setenv("RECO_AS_OF_DATE", "2030-01-01")
    run_dbt(
        wine_warehouse,
        ["build", "--resource-type", "model", "--select", "+int_as_of_date"],
        capture=True,
        project_env={"RECO_AS_OF_DATE": "2024-05-31", "RECO_SCHEMA_PREFIX": "bt_env_"},
    )
    as_of = query(wine_warehouse, "select * from bt_env_intermediate.int_as_of_date")
    assert [(str(r["as_of_date"]), r["as_of_date_origin"]) for r in as_of] == [("2024-05-31", "var")]
    schemas = query(wine_warehouse, "select nspname from pg_namespace where starts_with(nspname, 'bt_stray')")
    assert schemas == []
    with pytest.raises(RecoError, match="RECO_NOPE"):
        run_dbt(wine_warehouse, ["ls"], project_env={"RECO_NOPE": "1"})


def test_docs_site_is_generated_and_lists_the_models(wine_warehouse, tmp_path):
    index = build_docs(wine_warehouse, tmp_path / "site")
    html = index.read_text(encoding="utf-8")
    for model in ("customer", "product_alias", "order_line", "client_master_profile"):
        assert f"model.reco.{model}" in html
    assert "exposure.reco.reco_score" in html
    assert "Survivor rule" in html  # the doc blocks are rendered into the site


def test_the_wine_vocabulary_is_the_shipped_seeds(wine_warehouse):
    families = query(wine_warehouse, "select family_crm from lookups.product_families order by family_order")
    assert [f["family_crm"] for f in families] == ["Red", "White", "Rosé", "Sparkling", "Sweet", "Fortified"]
    for column, seed in (("family_crm", "product_families"), ("sucrosite_niveau", "sugar_levels")):
        unknown = query(
            wine_warehouse,
            f"select {column} from marts.product where {column} is not null"
            f" except select {column} from lookups.{seed}",
        )
        assert unknown == [], column


def test_source_freshness_measures_each_loaded_entity_against_its_thresholds(wine_warehouse):
    """The sample's customers and catalogue were loaded in 2024 (stale: an error at the default
    thresholds), its sales batch and contacts now (fresh); the sales lines' load time is their
    batch's, read from raw.load_batch. dbt exits non-zero because of the errors."""
    with pytest.raises(RecoError):
        run_dbt(wine_warehouse, ["source", "freshness", "--select", "source:raw"], capture=True)
    results = json.loads((Path(os.environ["DBT_TARGET_PATH"]) / "sources.json").read_text(encoding="utf-8"))
    status = {r["unique_id"].removeprefix("source.reco.raw."): r["status"] for r in results["results"]}
    assert status == {"customer": "error", "product": "error", "sales_line": "pass", "contact": "pass"}
    (sales,) = (r for r in results["results"] if r["unique_id"].endswith(".sales_line"))
    (loaded_at,) = query(
        wine_warehouse, "select max(loaded_at) as at from raw.load_batch where entity = 'sales'"
    )
    assert datetime.fromisoformat(sales["max_loaded_at"]) == loaded_at["at"]


def test_staging_reads_the_sales_lines_without_joining_their_files(wine_warehouse):
    """stg_raw__sales_lines reads the lineage view; PostgreSQL drops the view's join to
    raw.load_file (a left join on its key, no column read), so staging costs no extra join."""
    plan = "\n".join(
        r["QUERY PLAN"] for r in query(wine_warehouse, "explain select * from staging.stg_raw__sales_lines")
    )
    assert "load_batch" in plan
    assert "load_file" not in plan


def test_a_source_key_without_its_constraint_fails_the_source_tests(wine_warehouse):
    """constraint_exists reads the catalog: the build ran it and it passed; once raw.load_file's
    primary key is dropped, the same compiled test returns a failing row."""
    compiled = Path(os.environ["DBT_TARGET_PATH"], "compiled")
    (sql_file,) = compiled.rglob("source_constraint_exists_raw_load_file_batch_id__file_no.sql")
    sql = sql_file.read_text(encoding="utf-8")
    assert query(wine_warehouse, sql) == []
    with psycopg.connect(wine_warehouse.conninfo(), autocommit=True) as conn:
        conn.execute("alter table raw.load_file drop constraint pk_load_file")
        try:
            (failure,) = query(wine_warehouse, sql)
        finally:
            conn.execute(
                "alter table raw.load_file add constraint pk_load_file primary key (batch_id, file_no)"
            )
    assert failure["table_name"] == "raw.load_file"
    assert failure["wanted_columns"] == ["batch_id", "file_no"]


def test_order_line_ids_are_proven_unique_by_the_primary_key_its_test_looks_up(wine_warehouse):
    """order_line.id is tested with constraint_exists rather than unique (which grouped ten
    million ids again): the compiled test finds the contract's primary key, and the database
    refuses a duplicate id, here as the incremental append would meet one (the cold build's
    add primary key fails the build: tests/dbt/test_create_table_as.py)."""
    compiled = Path(os.environ["DBT_TARGET_PATH"], "compiled")
    (sql_file,) = compiled.rglob("constraint_exists_order_line_id.sql")
    assert query(wine_warehouse, sql_file.read_text(encoding="utf-8")) == []
    with psycopg.connect(wine_warehouse.conninfo()) as conn:
        with pytest.raises(psycopg.errors.UniqueViolation):
            conn.execute("insert into marts.order_line select * from marts.order_line limit 1")
        conn.rollback()
