"""Compact but realistic raw loads for the warehouse tests, written straight into the raw
tables (the real generator and ``reco load`` live elsewhere).

WINE: a wine merchant with a catalogue (some products without attributes), two customer
batches with duplicate e-mails across codes and batches, label-only sales lines in several
spellings, returns, a cancellation, postage, an unmapped label, a sales-only product, curated
aliases (one pointing nowhere), imported and reco contacts.

RETAIL: an Online-Retail-II-like load: sales lines only, no customer file, no catalogue.
"""

from __future__ import annotations

import json
from datetime import date

import psycopg

from reco.db.target import Database
from reco.vocab import AROMA_AXES

BATCHES = [
    ("b_cust1", "customers"),
    ("b_cust2", "customers"),
    ("b_prod1", "products"),
    ("b_prod2", "products"),
    ("b_sales1", "sales"),
    ("b_alias1", "aliases"),
    ("b_contact1", "contacts"),
]

# code, email, first, last, country, contactable, bounced, optout, signup, updated, batch, loaded
CUSTOMERS = [
    (
        "C001",
        "Alice@Example.com ",
        "Alice",
        "Martin",
        "FR",
        True,
        False,
        False,
        "2020-01-10",
        "2024-01-01",
        "b_cust1",
        "2024-01-02",
    ),
    (
        "C001",
        "alice@example.com",
        "Alicia",
        None,
        None,
        True,
        False,
        False,
        "2020-01-10",
        "2024-05-01",
        "b_cust2",
        "2024-05-02",
    ),
    (
        "C104",
        "ALICE@example.com",
        "Alice",
        "Martin",
        "FR",
        True,
        False,
        True,
        "2022-03-01",
        "2023-06-01",
        "b_cust2",
        "2024-05-02",
    ),
    (
        "C002",
        "bob@example.com",
        "Bob",
        "Durand",
        "FR",
        True,
        True,
        False,
        "2021-02-01",
        "2024-01-01",
        "b_cust1",
        "2024-01-02",
    ),
    (
        "C002",
        "bob@example.com",
        "Bob",
        "Durand",
        "FR",
        True,
        False,
        False,
        "2021-02-01",
        "2024-04-01",
        "b_cust2",
        "2024-05-02",
    ),
    (
        "C003",
        "carol@example.com",
        "Carol",
        "Petit",
        "BE",
        True,
        True,
        False,
        "2021-05-01",
        "2024-03-01",
        "b_cust1",
        "2024-01-02",
    ),
    (
        "C004",
        "dave@example.com",
        "Dave",
        "Roux",
        "FR",
        True,
        False,
        False,
        "2022-01-01",
        "2024-01-01",
        "b_cust1",
        "2024-01-02",
    ),
    (
        "C005",
        "not-an-email",
        "Eve",
        "Blanc",
        "FR",
        True,
        False,
        False,
        "2022-06-01",
        "2024-01-01",
        "b_cust1",
        "2024-01-02",
    ),
    (
        "C006",
        "erin@a.example",
        "Erin",
        "Moreau",
        "FR",
        True,
        False,
        False,
        "2021-01-01",
        "2024-01-01",
        "b_cust1",
        "2024-01-02",
    ),
    (
        "C106",
        "erin@a.example",
        "Erin",
        "Moreau",
        "FR",
        True,
        False,
        False,
        "2022-01-01",
        "2024-01-01",
        "b_cust1",
        "2024-01-02",
    ),
    (
        "C106",
        "erin@b.example",
        "Erin",
        "Moreau",
        "FR",
        True,
        False,
        False,
        "2022-01-01",
        "2024-04-01",
        "b_cust2",
        "2024-05-02",
    ),
    (
        "C206",
        "erin@b.example",
        "Erin",
        "Moreau-Lefort",
        "FR",
        True,
        False,
        False,
        "2019-07-01",
        "2024-02-01",
        "b_cust2",
        "2024-05-02",
    ),
]


# key, label, family, grape, sugar, band, tier, price, aromas (dict), active, season, batch, loaded
PRODUCTS = [
    (
        "W001",
        "Château Margaux 2015 75cl",
        "Red",
        "Cabernet Sauvignon",
        "Dry",
        "40_80",
        3,
        55,
        {"fruity": 4, "woody": 5, "toasty": 3, "spicy": 2},
        True,
        ["christmas"],
        "b_prod1",
        "2024-01-01",
    ),
    (
        "W002",
        "Sancerre Blanc 2021",
        "White",
        "Sauvignon Blanc",
        "dry",
        "20_40",
        2,
        22,
        {"mineral": 5, "herbal": 4, "fruity": 3, "floral": 3},
        True,
        ["summer"],
        "b_prod1",
        "2024-01-01",
    ),
    (
        "W002",
        "Sancerre Blanc 2022",
        "White",
        "Sauvignon Blanc",
        "dry",
        "20_40",
        2,
        24,
        {"mineral": 5, "herbal": 4, "fruity": 3, "floral": 3},
        True,
        ["summer"],
        "b_prod2",
        "2024-03-01",
    ),
    (
        "W003",
        "Crémant d'Alsace Brut",
        "Sparkling",
        "Pinot Blanc",
        "dry",
        "10_20",
        None,
        14,
        {"floral": 4, "toasty": 3},
        True,
        None,
        "b_prod1",
        "2024-01-01",
    ),
    (
        "W004",
        "Côtes du Rhône Rouge",
        "Red",
        "Grenache",
        "dry",
        "under_10",
        None,
        8,
        {"fruity": 5, "spicy": 4},
        True,
        None,
        "b_prod1",
        "2024-01-01",
    ),
    (
        "W005",
        "Sauternes 2010 50cl",
        "Sweet",
        "Sémillon",
        "Sweet",
        None,
        None,
        35,
        {},
        True,
        None,
        "b_prod1",
        "2024-01-01",
    ),
    (
        "W006",
        "Coffret Mystère",
        None,
        None,
        None,
        None,
        None,
        None,
        {},
        None,
        None,
        "b_prod1",
        "2024-01-01",
    ),
]

# alias_label, product_key
ALIASES = [("Margaux Grand Vin", "W001"), ("Bad Alias", "NOPE")]

# doc, date, customer, product_key, label, qty, unit_price, amount_ht, line_type
SALES = [
    ("D1", "2024-01-15", "C001", "W001", "Château Margaux 2015", 1, 55, 55, "sale"),
    ("D1", "2024-01-15", "C001", "W004", "Cotes du Rhone rouge 75 cl", 6, 8, 48, "sale"),
    ("R1", "2024-02-01", "C001", "W004", "Cotes du Rhone rouge 75 cl", -1, 8, -8, "return"),
    ("D2", "2024-03-10", "C104", "W002", "Sancerre Blanc", 2, 22, 44, "sale"),
    ("D3", "2024-05-20", "C002", None, "CHATEAU MARGAUX - 0,75L", 1, 60, 60, "sale"),
    ("D4", "2024-06-01", "C002", None, "Margaux Grand Vin 2016", 1, 58, 58, "sale"),
    ("D4", "2024-06-01", "C002", None, "côtes-du-rhône ROUGE", 2, 8, 16, "sale"),
    ("D5", "2024-06-10", "C003", "W003", "Crémant d'Alsace Brut", 3, 14, 42, "sale"),
    ("D5", "2024-06-10", "C003", "POST", "POSTAGE", 1, 5, 5, "sale"),
    ("D6", "2024-06-15", "C004", None, "Vin Mystère Inconnu", 1, 30, 30, "sale"),
    ("C6", "2024-06-16", "C004", "W003", "Crémant d'Alsace Brut", -1, 14, -14, "cancellation"),
    ("D6b", "2024-06-15", "C004", "W003", "Crémant d'Alsace Brut", 1, 14, 14, "sale"),
    ("D7", "2024-06-20", "C999", "X100", "Rosé de Provence 2023", 2, 12, 24, "sale"),
    ("D7b", "2024-06-22", "C999", None, "ROSE DE PROVENCE", 1, 12, 12, "sale"),
    ("D8", "2024-04-01", "C006", "W002", "Sancerre Blanc 2021", 1, 24, 24, "sale"),
    ("D9", "2024-06-25", "C106", "W005", "Sauternes 50cl", 1, 35, 35, "sale"),
    ("D10", "2024-06-30", "C005", "W004", "Côtes du Rhône Rouge", 1, 8, 8, "sale"),
]

# customer, date, channel, campaign, status
CONTACTS = [
    ("C104", "2024-06-01", "email", "camp1", "sent"),
    ("C002", "2024-06-02", "Email", "camp1", "bounced"),
    ("C106", "2024-06-03", "email", "camp1", "Unsubscribed"),
    ("C004", "2024-06-03", "email", "camp1", "opened"),
    ("C004", "2024-06-04", "email", "camp1", "clicked"),
]

# customer, date, campaign, run, scenario, is_control
CONTACT_EVENTS = [("C003", "2024-06-05", "camp2", "run1", "REBUY", False)]


def _d(value: str | None) -> date | None:
    return date.fromisoformat(value) if value else None


def _batches(cur, batches) -> None:
    cur.executemany(
        """insert into raw.load_batch (batch_id, entity, status, files, rows_read, rows_loaded,
               rows_rejected, rows_duplicate, options)
           values (%s, %s, 'succeeded', '[]', 0, 0, 0, 0, '{}')""",
        batches,
    )


def _sales(cur, lines, batch: str = "b_sales1") -> None:
    """Sales lines; line keys and row numbers are unique within the batch."""
    cur.executemany(
        """insert into raw.sales_line (line_key, doc_ref, order_date, customer_code, product_key,
               product_label, quantity, unit_price, amount_ht, line_type, batch_id, file_no,
               source_row)
           values (md5(%s)::uuid, %s, %s, %s, %s, %s, %s, %s, %s, %s, %s, 1, %s)""",
        [
            (f"{batch}:{i}", doc, _d(day), cust, key, label, qty, price, amount, kind, batch, i)
            for i, (doc, day, cust, key, label, qty, price, amount, kind) in enumerate(lines, 1)
        ],
    )


def load_wine(db: Database) -> None:
    with psycopg.connect(db.conninfo()) as conn, conn.cursor() as cur:
        _batches(cur, BATCHES)
        cur.executemany(
            """insert into raw.customer (customer_code, email, first_name, last_name, country,
                   is_contactable, is_bounced, is_optout, signup_date, updated_at, batch_id,
                   source_file, source_row, loaded_at)
               values (%s, %s, %s, %s, %s, %s, %s, %s, %s, %s, %s, 'customers.csv', %s, %s)""",
            [
                (*row[:8], _d(row[8]), _d(row[9]), row[10], i, _d(row[11]))
                for i, row in enumerate(CUSTOMERS, 1)
            ],
        )
        cur.executemany(
            f"""insert into raw.product (product_key, product_label, family_crm, cepage,
                   sucrosite_niveau, price_band, premium_tier, unit_price,
                   {", ".join(f"aroma_{a}" for a in AROMA_AXES)},
                   is_active, season_tags, batch_id, source_file, source_row, loaded_at)
               values ({", ".join(["%s"] * (8 + len(AROMA_AXES) + 3))}, 'products.csv', %s, %s)""",
            [
                (
                    *row[:8],
                    *(row[8].get(a) for a in AROMA_AXES),
                    row[9],
                    json.dumps(row[10]) if row[10] is not None else None,
                    row[11],
                    i,
                    _d(row[12]),
                )
                for i, row in enumerate(PRODUCTS, 1)
            ],
        )
        cur.executemany(
            """insert into raw.product_alias (alias_label, product_key, batch_id, source_file,
                   source_row)
               values (%s, %s, 'b_alias1', 'aliases.csv', %s)""",
            [(*row, i) for i, row in enumerate(ALIASES, 1)],
        )
        _sales(cur, SALES)
        cur.executemany(
            """insert into raw.contact (customer_code, contact_date, channel, campaign_id, status,
                   batch_id, source_file, source_row)
               values (%s, %s, %s, %s, %s, 'b_contact1', 'contacts.csv', %s)""",
            [(c, _d(d), ch, camp, st, i) for i, (c, d, ch, camp, st) in enumerate(CONTACTS, 1)],
        )
        cur.executemany(
            """insert into reco.contact_event (customer_code, contact_date, channel, campaign_id,
                   run_id, scenario, is_control)
               values (%s, %s, 'email', %s, %s, %s, %s)""",
            [(c, _d(d), camp, run, sc, ctl) for c, d, camp, run, sc, ctl in CONTACT_EVENTS],
        )


# Online Retail II style: StockCodes, upper-case gift-ware labels, C-invoices, postage.
RETAIL_SALES = [
    (
        "489434",
        "2010-12-01",
        "13085",
        "85048",
        "15CM CHRISTMAS GLASS BALL 20 LIGHTS",
        12,
        6.95,
        83.4,
        "sale",
    ),
    ("489434", "2010-12-01", "13085", "79323P", "PINK CHERRY LIGHTS", 12, 6.75, 81.0, "sale"),
    ("489435", "2010-12-01", "13085", "22350", "CAT BOWL ", 12, 2.55, 30.6, "sale"),
    (
        "489436",
        "2011-01-10",
        "13078",
        "85048",
        "15CM CHRISTMAS GLASS BALL 20 LIGHTS",
        6,
        6.95,
        41.7,
        "sale",
    ),
    ("489436", "2011-01-10", "13078", "POST", "POSTAGE", 1, 18.0, 18.0, "sale"),
    ("C489449", "2011-01-12", "13078", "22350", "CAT BOWL", -2, 2.55, -5.1, "cancellation"),
    (
        "489437",
        "2011-02-02",
        "12583",
        "21232",
        "STRAWBERRY CERAMIC TRINKET BOX",
        24,
        1.25,
        30.0,
        "sale",
    ),
    ("489437", "2011-02-02", "12583", "M", "Manual", 1, 10.0, 10.0, "adjustment"),
    (
        "489438",
        "2011-03-05",
        "12583",
        "21232",
        "STRAWBERRY CERAMIC TRINKET BOX",
        12,
        1.25,
        15.0,
        "sale",
    ),
    ("489439", "2011-03-06", "17850", "22350", "CAT BOWL", 6, 2.55, 15.3, "sale"),
]


def load_retail(db: Database) -> None:
    """Two yearly exports, sales lines only (no customer file, catalogue or contacts)."""
    with psycopg.connect(db.conninfo()) as conn, conn.cursor() as cur:
        _batches(cur, [("or_2010", "sales"), ("or_2011", "sales")])
        _sales(cur, RETAIL_SALES[:3], batch="or_2010")
        _sales(cur, RETAIL_SALES[3:], batch="or_2011")


def query(db: Database, sql: str, params: tuple = ()) -> list[dict]:
    """Rows of a query as dicts."""
    with psycopg.connect(db.conninfo()) as conn:
        cur = conn.execute(sql, params)
        names = [c.name for c in cur.description]
        return [dict(zip(names, row, strict=True)) for row in cur.fetchall()]


def by_key(rows: list[dict], key: str) -> dict:
    return {row[key]: row for row in rows}
