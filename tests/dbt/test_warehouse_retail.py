"""The warehouse on an Online-Retail-II-like load: sales lines only, no customer file, no
catalogue, no contacts. Everything builds and every test passes; wine attributes stay null."""

from __future__ import annotations

from warehouse_sample import by_key, query


def test_customers_come_from_the_sales_codes_and_none_is_contactable(retail_warehouse):
    customers = by_key(query(retail_warehouse, "select * from marts.customer"), "customer_code")
    assert set(customers) == {"13085", "13078", "12583", "17850"}
    assert not any(c["is_contactable"] for c in customers.values())
    assert all(c["email"] is None for c in customers.values())
    assert customers["13085"]["batch_id"] == "or_2010"
    assert customers["13078"]["batch_id"] == "or_2011"


def test_products_come_from_the_sales_codes_with_null_wine_attributes(retail_warehouse):
    products = by_key(query(retail_warehouse, "select * from marts.product"), "product_key")
    assert set(products) == {"85048", "79323P", "22350", "21232"}  # no POST, no M
    bowl = products["22350"]
    assert bowl["product_label"] == "CAT BOWL"  # the most frequent label, trimmed
    assert not bowl["has_catalogue"]
    for column in ("family_crm", "cepage", "sucrosite_niveau", "aroma_fruity", "aroma_toasty"):
        assert all(p[column] is None for p in products.values()), column
    assert all(p["premium_tier"] in (0, 1, 2, 3) for p in products.values())
    assert all(0 <= p["global_popularity_score"] <= 1 for p in products.values())


def test_profiles_have_rfm_but_no_wine_shares_and_zero_aroma_confidence(retail_warehouse):
    profiles = by_key(
        query(retail_warehouse, "select * from marts.client_master_profile"), "customer_code"
    )
    assert set(profiles) == {"13085", "13078", "12583", "17850"}
    assert str(profiles["13085"]["as_of_date"]) == "2011-03-06"  # the latest order date
    assert profiles["13078"]["ca_ht"] == 41.7 - 5.1  # the cancellation is netted, postage not
    assert profiles["12583"]["nb_commandes"] == 2  # the manual adjustment is no order
    for p in profiles.values():
        assert p["aroma_confidence"] == 0 and p["aroma_level"] == "none"
        assert p["top_family_1"] is None and p["top_grape_1"] is None and p["top_sugar_1"] is None
        assert p["segment"] is not None


def test_cancellations_and_fee_codes_are_flagged(retail_warehouse):
    lines = query(
        retail_warehouse, "select * from marts.order_line where not is_purchase order by id"
    )
    assert [(line["doc_ref"], line["line_type"]) for line in lines] == [
        ("489436", "adjustment"),
        ("C489449", "cancellation"),
        ("489437", "adjustment"),
    ]
