"""Who may be contacted: the one place that decides, with a reason code for every refusal.

Reasons, in the order they are checked (a customer's ``reason_code`` is the first that holds;
``reasons`` lists them all):

- ``no_email``: no e-mail address (null or blank);
- ``invalid_email``: an address without ``@``;
- ``opted_out``: ``is_optout`` is true;
- ``bounced``: ``is_bounced`` is true;
- ``not_contactable``: ``is_contactable`` is not true (consent must be explicit: null refuses).
  The mart's ``is_contactable`` is already false for an opt-out or a bounce, so those two come
  first: the reason code names the most specific cause;
- ``silence_window``: a real contact (not a control-group hold-out) less than ``silence_days``
  days before ``as_of``, or on or after it (a contact on ``as_of``, or dated after it, counts:
  the campaign goes out after the scoring);
- ``contact_cap``: at least ``contact_cap`` real contacts in the last ``contact_cap_days`` days.
"""

from __future__ import annotations

from datetime import date, timedelta

import polars as pl

from reco.scoring.config import Eligibility

SUPPRESSION_REASONS = (
    "no_email",
    "invalid_email",
    "opted_out",
    "bounced",
    "not_contactable",
    "silence_window",
    "contact_cap",
)


def eligibility(
    customers: pl.LazyFrame, contacts: pl.LazyFrame, as_of: date, rules: Eligibility
) -> pl.LazyFrame:
    """One row per customer: ``customer_code``, ``reason_code`` (null = eligible), ``reasons``
    (every reason that holds), ``last_contact_date`` and ``contacts_in_cap_period``."""
    cap_start = as_of - timedelta(days=rules.contact_cap_days - 1)
    silence_start = as_of - timedelta(days=rules.silence_days - 1)
    history = (
        contacts.filter(pl.col("is_control").fill_null(False).not_())
        .group_by("customer_code")
        .agg(
            last_contact_date=pl.col("contact_date").max(),
            contacts_in_cap_period=(pl.col("contact_date") >= cap_start).sum().cast(pl.Int32),
        )
    )
    email = pl.col("email").str.strip_chars()
    checks = {
        "no_email": email.is_null() | (email == ""),
        "invalid_email": email.str.contains("@", literal=True).not_(),
        "opted_out": pl.col("is_optout").fill_null(False),
        "bounced": pl.col("is_bounced").fill_null(False),
        "not_contactable": pl.col("is_contactable").fill_null(False).not_(),
        "silence_window": pl.lit(rules.silence_days > 0)
        & (pl.col("last_contact_date") >= silence_start).fill_null(False),
        "contact_cap": pl.lit(rules.contact_cap > 0)
        & (pl.col("contacts_in_cap_period").fill_null(0) >= rules.contact_cap),
    }
    reasons = pl.concat_list(
        pl.when(check.fill_null(False)).then(pl.lit(name)) for name, check in checks.items()
    ).list.drop_nulls()
    return (
        customers.join(history, on="customer_code", how="left")
        .with_columns(reasons=reasons)
        .select(
            "customer_code",
            reason_code=pl.col("reasons").list.first(),
            reasons="reasons",
            last_contact_date="last_contact_date",
            contacts_in_cap_period=pl.col("contacts_in_cap_period").fill_null(0),
        )
    )
