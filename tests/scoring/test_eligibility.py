from datetime import date, timedelta

import polars as pl

from reco.scoring.config import Eligibility
from reco.scoring.eligibility import eligibility

AS_OF = date(2026, 1, 1)


def _customers(**overrides):
    base = {"email": "a@b.c", "is_contactable": True, "is_bounced": False, "is_optout": False}
    rows = [{"customer_code": code, **base, **values} for code, values in overrides.items()]
    return pl.DataFrame(
        rows,
        schema={
            "customer_code": pl.String,
            "email": pl.String,
            "is_contactable": pl.Boolean,
            "is_bounced": pl.Boolean,
            "is_optout": pl.Boolean,
        },
    ).lazy()


def _contacts(*rows):
    return pl.DataFrame(
        [
            {"customer_code": c, "contact_date": d, "channel": "email", "is_control": ctl}
            for c, d, ctl in rows
        ],
        schema={
            "customer_code": pl.String,
            "contact_date": pl.Date,
            "channel": pl.String,
            "is_control": pl.Boolean,
        },
    ).lazy()


def _verdict(customers, contacts, rules=None):
    out = eligibility(customers, contacts, AS_OF, rules or Eligibility()).collect()
    return dict(zip(out["customer_code"], out["reason_code"], strict=True))


def test_each_consent_problem_suppresses_with_its_reason_code():
    verdict = _verdict(
        _customers(
            ok={},
            blank={"email": "  "},
            none={"email": None},
            bad={"email": "nobody"},
            nc={"is_contactable": False},
            unknown={"is_contactable": None},
            bounced={"is_bounced": True},
            out={"is_optout": True},
        ),
        _contacts(),
    )
    assert verdict == {
        "ok": None,
        "blank": "no_email",
        "none": "no_email",
        "bad": "invalid_email",
        "nc": "not_contactable",
        "unknown": "not_contactable",
        "bounced": "bounced",
        "out": "opted_out",
    }


def test_silence_window_counts_contacts_less_than_n_days_old_including_today():
    rules = Eligibility(silence_days=14)
    verdict = _verdict(
        _customers(today={}, d13={}, d14={}, control={}),
        _contacts(
            ("today", AS_OF, False),
            ("d13", AS_OF - timedelta(days=13), False),
            ("d14", AS_OF - timedelta(days=14), False),
            ("control", AS_OF, True),
        ),
        rules,
    )
    assert verdict == {
        "today": "silence_window",
        "d13": "silence_window",
        "d14": None,
        "control": None,
    }


def test_a_contact_dated_after_as_of_still_silences():
    verdict = _verdict(
        _customers(later={}, much_later={}),
        _contacts(
            ("later", AS_OF + timedelta(days=2), False),
            ("much_later", AS_OF + timedelta(days=40), False),
        ),
        Eligibility(silence_days=14),
    )
    assert verdict == {"later": "silence_window", "much_later": "silence_window"}


def test_an_opt_out_or_a_bounce_is_named_even_when_the_mart_also_says_not_contactable():
    verdict = _verdict(
        _customers(
            out={"is_optout": True, "is_contactable": False},
            bounced={"is_bounced": True, "is_contactable": False},
        ),
        _contacts(),
    )
    assert verdict == {"out": "opted_out", "bounced": "bounced"}


def test_contact_cap_suppresses_after_n_contacts_in_the_period():
    rules = Eligibility(silence_days=0, contact_cap=2, contact_cap_days=30)
    verdict = _verdict(
        _customers(two={}, one={}, old={}),
        _contacts(
            ("two", AS_OF - timedelta(days=3), False),
            ("two", AS_OF - timedelta(days=20), False),
            ("one", AS_OF - timedelta(days=3), False),
            ("old", AS_OF - timedelta(days=3), False),
            ("old", AS_OF - timedelta(days=40), False),
        ),
        rules,
    )
    assert verdict == {"two": "contact_cap", "one": None, "old": None}


def test_every_reason_is_listed_and_the_first_is_the_reason_code():
    out = eligibility(
        _customers(x={"email": None, "is_optout": True}),
        _contacts(("x", AS_OF, False)),
        AS_OF,
        Eligibility(),
    ).collect()
    assert out["reasons"].to_list() == [["no_email", "opted_out", "silence_window"]]
    assert out["reason_code"].to_list() == ["no_email"]
