"""Regenerate the grocery corpus (bytes exactly as committed): python make_grocery.py

A grocery chain's loyalty-card exports, small and synthetic, shaped like the real thing:

- ``sales.csv``: four months of till lines (June-September 2026) with no receipt number, only the
  card, the day and the store; ``;``-separated, decimal comma, dd/mm/yyyy; loose produce sold
  by weight (``0,532``), a few returns (negative quantities);
- ``products.csv``: thousands of products in thousands of subclasses (the ``family_crm`` of
  the CRM) with no wine attribute (no grape, sugar, aroma, tier);
- ``customers.csv``: cards with an e-mail and the consent flags (Y/N), some opted out, some
  bounced, some without e-mail.

The mappings next to them (``sales.toml``, ``products.toml``, ``customers.toml``) derive the
sales ``doc_ref`` as one basket per customer and day. Deterministic: a fixed seed and the
standard library only.
"""

from __future__ import annotations

import random
from datetime import date, timedelta
from pathlib import Path

HERE = Path(__file__).parent
SEED = 20260601
N_CUSTOMERS = 300
N_SUBCLASSES = 2000
N_PRODUCTS = 2600
START, DAYS = date(2026, 6, 1), 122  # 1 June to 30 September 2026

DEPARTMENTS = ("DAIRY", "BAKERY", "PRODUCE", "GROCERY", "FROZEN", "DRINKS", "HYGIENE", "HOME")
WORDS = ("bio", "fresh", "light", "classic", "family", "mini", "extra", "value", "gold", "plain")


def _decimal_comma(x: float, places: int = 2) -> str:
    return f"{x:.{places}f}".replace(".", ",")


def products(rng: random.Random) -> list[tuple[str, str, str, str, float, bool]]:
    """(article, description, subclass, department, price, sold by weight)."""
    out = []
    for i in range(N_PRODUCTS):
        sub = i if i < N_SUBCLASSES else rng.randrange(N_SUBCLASSES)
        dept = DEPARTMENTS[sub % len(DEPARTMENTS)]
        subclass = f"{dept[:3]}-{sub:04d}"
        weighed = dept == "PRODUCE" and rng.random() < 0.5
        price = round(rng.lognormvariate(1.0, 0.6), 2) + 0.19
        label = f"{dept.title()} {rng.choice(WORDS)} {i}"
        out.append((f"{300000 + i * 7}", label, subclass, dept, price, weighed))
    return out


def main() -> None:
    rng = random.Random(SEED)
    catalogue = products(rng)
    with (HERE / "products.csv").open("w", encoding="utf-8", newline="") as f:
        f.write("Article;Description;Subclass;Department;Price\n")
        for article, desc, subclass, dept, price, _ in catalogue:
            f.write(f"{article};{desc};{subclass};{dept};{_decimal_comma(price)}\n")

    cards = [f"49{1000000 + i * 13:08d}" for i in range(N_CUSTOMERS)]
    with (HERE / "customers.csv").open("w", encoding="utf-8", newline="") as f:
        f.write("Card;Email;First name;Opt-in email;Bounced;Unsubscribed\n")
        for i, card in enumerate(cards):
            email = "" if i % 17 == 5 else f"client{i}@example.com"
            opt_in = "N" if i % 11 == 3 else "Y"
            bounced = "Y" if i % 23 == 7 else "N"
            unsubscribed = "Y" if i % 19 == 2 else "N"
            f.write(f"{card};{email};Client {i};{opt_in};{bounced};{unsubscribed}\n")

    # Popular products first (a Zipf-like weight), and each customer's own staples.
    weights = [1 / (k + 1) ** 0.9 for k in range(N_PRODUCTS)]
    lines = []
    for card in cards:
        staples = rng.choices(range(N_PRODUCTS), weights=weights, k=rng.randint(3, 8))
        visits = sorted(rng.sample(range(DAYS), k=rng.randint(1, 8)))
        store = rng.choice(("012", "047", "105"))
        for day in visits:
            basket = {*rng.sample(staples, k=min(len(staples), rng.randint(1, 3)))}
            basket |= {*rng.choices(range(N_PRODUCTS), weights=weights, k=rng.randint(0, 2))}
            for p in sorted(basket):
                article, _, _, _, price, weighed = catalogue[p]
                qty = round(rng.uniform(0.2, 1.8), 3) if weighed else rng.choice((1, 1, 1, 2, 3))
                if rng.random() < 0.01:
                    qty = -qty  # a return at the till
                q = _decimal_comma(qty, 3) if weighed else str(qty)
                net = _decimal_comma(round(qty * price, 2))
                lines.append(((START + timedelta(days=day)), store, card, article, q, net))
    lines.sort(key=lambda line: (line[0], line[1], line[2]))
    with (HERE / "sales.csv").open("w", encoding="utf-8", newline="") as f:
        f.write("Date;Store;Card;Article;Qty;Net amount\n")
        for day, store, card, article, q, net in lines:
            f.write(f"{day:%d/%m/%Y};{store};{card};{article};{q};{net}\n")


if __name__ == "__main__":
    main()
