"""The domain's vocabulary, written once for all of reco's Python.

Where the warehouse has the same list as a dbt seed (``dbt_project/seeds``) or a macro, the
seed is what dbt builds with and ``tests/test_vocab.py`` checks that the two say the same, in
the same order.
"""

from __future__ import annotations

#: The five scenarios a recommendation belongs to, in the default priority order of the scoring
#: configuration (``[scoring] priority``; a customer gets the first one that fits them). The
#: ``scenario`` columns of the ``reco`` schema check against them, and so do dbt's tests.
SCENARIOS = ("WINBACK", "REBUY", "NURTURE", "UPSELL", "CROSS_SELL")

#: The aroma axes of the catalogue (product columns ``aroma_<axis>``, scores 1–5), in the seed
#: ``aroma_axes``'s order, which is also the tie-break order of a customer's top axes.
AROMA_AXES = ("fruity", "floral", "spicy", "herbal", "mineral", "woody", "toasty")

#: The product families (``family_crm``): the seed ``product_families``, in its order.
FAMILIES = ("Red", "White", "Rosé", "Sparkling", "Sweet", "Fortified")

#: Sugar levels (``sucrosite_niveau``): the seed ``sugar_levels``, driest first.
SUGARS = ("dry", "off_dry", "medium", "sweet")

#: Price bands (``price_band``): the seed ``price_bands``, cheapest first.
PRICE_BANDS = ("under_10", "10_20", "20_40", "40_80", "80_plus")
#: Upper bounds (exclusive, unit price incl. VAT) of the price bands, in PRICE_BANDS order
#: (the last band has none).
PRICE_BAND_EDGES = (10.0, 20.0, 40.0, 80.0)
