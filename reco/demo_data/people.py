"""Who buys: persons with an archetype and a taste, and the CRM accounts (customer codes) they use.

A *person* is a real buyer; an *account* is a customer code in the CRM. Every person has one
account; a few persons open a second account later under the same e-mail (the duplicates).
"""

from __future__ import annotations

from dataclasses import dataclass
from enum import IntEnum

import numpy as np
import polars as pl

from reco.demo_data import vocab
from reco.demo_data._sampling import categorical


class Archetype(IntEnum):
    LOYAL = 0  # re-buys favourites at a personal interval, all period long
    DRIFTER = 1  # moves up the premium tiers over time
    LAPSER = 2  # buys for a while, then stops (no purchase in the last 8 months)
    NEW = 3  # first purchase in the last ~10 months
    ONE_TIMER = 4  # a single order
    PROSPECT = 5  # signed up (newsletter), never bought
    EXPLORER = 6  # buys all period, mostly products they never bought, within their taste
    RETURNER = 7  # buys often, pauses for months now and then, comes back to their favourites


ARCHETYPE_SHARES = (0.20, 0.10, 0.08, 0.10, 0.14, 0.08, 0.14, 0.16)
DUPLICATE_SHARE = 0.02
MISSING_EMAIL_SHARE = 0.07
OPTOUT_SHARE = 0.08
EMAIL_CHANGE_SHARE = 0.04
EMAIL_ADDED_SHARE = 0.02
NAME_FIX_SHARE = 0.03


@dataclass(frozen=True)
class People:
    archetype: np.ndarray
    first_day: np.ndarray  # start of the buying window (days since epoch)
    last_day: np.ndarray  # end of the buying window
    interval: np.ndarray  # personal re-purchase interval, days
    profile1: np.ndarray  # main taste profile (index into vocab.TASTE_PROFILES)
    profile2: np.ndarray  # secondary taste profile
    base_tier: np.ndarray  # preferred premium tier 0–3
    store_share: np.ndarray  # share of this person's orders made in a shop (no product key)

    def __len__(self) -> int:
        return len(self.archetype)


@dataclass(frozen=True)
class Accounts:
    """One row per customer code. The first ``n_people`` accounts are the persons' own."""

    person: np.ndarray
    is_duplicate: np.ndarray
    code: pl.Series
    signup_day: np.ndarray
    dup_since_day: np.ndarray  # for a person with a duplicate account: from when it is used
    dup_account: np.ndarray  # for a person: its duplicate account index, or -1
    email: pl.Series  # latest e-mail (null when missing)
    old_email: pl.Series  # e-mail in the older CRM export (null when missing then)
    email_change_day: np.ndarray  # the day the e-mail changed (or was added); huge if never
    first_name: pl.Series
    last_name: pl.Series
    name_fix_day: np.ndarray  # the day the last name was fixed (older export in capitals)
    country: pl.Series
    optout_day: np.ndarray  # huge if never

    def __len__(self) -> int:
        return len(self.person)


NEVER = np.iinfo(np.int32).max
#: The archetypes that order more than once.
REPEAT_BUYERS = (
    Archetype.LOYAL,
    Archetype.DRIFTER,
    Archetype.LAPSER,
    Archetype.NEW,
    Archetype.EXPLORER,
    Archetype.RETURNER,
)


def build_people(
    rng: np.random.Generator, n: int, start_day: int, end_day: int, xmas_days: np.ndarray
) -> People:
    span = end_day - start_day
    arch = categorical(rng, ARCHETYPE_SHARES, n)
    u, v = rng.random(n), rng.random(n)
    first = np.full(n, start_day, dtype=np.int64)
    last = np.full(n, end_day, dtype=np.int64)
    interval = np.full(n, 120.0)

    steady = np.isin(arch, [Archetype.LOYAL, Archetype.DRIFTER, Archetype.EXPLORER, Archetype.RETURNER])
    first[steady] = start_day + (0.35 * span * u[steady] ** 2).astype(np.int64)
    for archetype, median, sigma in (
        (Archetype.LOYAL, 110, 0.45),
        (Archetype.DRIFTER, 120, 0.4),
        (Archetype.EXPLORER, 75, 0.35),
        (Archetype.RETURNER, 35, 0.3),
    ):
        interval[arch == archetype] = rng.lognormal(np.log(median), sigma, (arch == archetype).sum())

    lapser = arch == Archetype.LAPSER
    first[lapser] = start_day + (0.45 * span * u[lapser]).astype(np.int64)
    last[lapser] = np.minimum(first[lapser] + 120 + (420 * v[lapser]).astype(np.int64), end_day - 240)
    first[lapser] = np.minimum(first[lapser], last[lapser] - 30)
    interval[lapser] = rng.lognormal(np.log(80), 0.4, lapser.sum())

    new = arch == Archetype.NEW
    first[new] = end_day - 20 - (280 * u[new]).astype(np.int64)
    interval[new] = rng.lognormal(np.log(60), 0.4, new.sum())

    # One-timers: 30% are Christmas gift buyers, the rest buy once at any time.
    once = arch == Archetype.ONE_TIMER
    xmas = rng.random(n) < 0.3
    xmas_day = xmas_days[rng.integers(0, len(xmas_days), n)] + (23 * v).astype(np.int64)
    first[once] = np.where(xmas[once], xmas_day[once], start_day + (span * u[once]).astype(np.int64))
    first = np.minimum(first, end_day)
    last[once] = first[once]
    interval = np.clip(interval, 30, 400)

    profile_shares = [share for share, _ in vocab.TASTE_PROFILES.values()]
    n_profiles = len(profile_shares)
    profile1 = categorical(rng, profile_shares, n)
    profile2 = (profile1 + 1 + rng.integers(0, n_profiles - 1, n)) % n_profiles
    base_tier = categorical(rng, [0.35, 0.35, 0.2, 0.1], n)
    base_tier[arch == Archetype.DRIFTER] = categorical(rng, [0.6, 0.4], (arch == Archetype.DRIFTER).sum())
    store_share = np.where(rng.random(n) < 0.5, rng.random(n) * 0.3, 0.3 + rng.random(n) * 0.7)
    return People(arch, first, last, interval, profile1, profile2, base_tier, store_share)


def build_accounts(
    rng: np.random.Generator, people: People, n_accounts: int, start_day: int, end_day: int
) -> Accounts:
    n_people = len(people)
    n_dup = n_accounts - n_people
    arch = people.archetype
    has_email = rng.random(n_people) >= MISSING_EMAIL_SHARE

    # Signup: long-standing customers signed up years before the period, others at first order.
    u = rng.random(n_people)
    signup = people.first_day - np.where(
        people.first_day - start_day < 60,
        (1800 * u).astype(np.int64),
        np.where(u < 0.6, 0, (90 * u).astype(np.int64)),
    )
    prospect = arch == Archetype.PROSPECT
    signup[prospect] = start_day - 1000 + (u[prospect] * (end_day - start_day + 1000)).astype(np.int64)

    # Duplicates: a second account of a repeat buyer with an e-mail, used from dup_since on.
    # Mostly repeat buyers (their later orders split between the two codes).
    # (Only in tiny runs can it take someone without an e-mail: then both codes have none.)
    can_dup = np.arange(n_people)
    repeat = np.isin(arch, list(REPEAT_BUYERS)) & (people.last_day - people.first_day > 90)
    n_dup = min(n_dup, n_people)
    weight = np.where(has_email, np.where(repeat, 1.0, 0.01), 1e-6)
    dup_person = (
        np.sort(rng.choice(can_dup, n_dup, replace=False, p=weight / weight.sum()))
        if n_dup
        else np.zeros(0, np.int64)
    )
    f, l_ = people.first_day[dup_person], people.last_day[dup_person]
    dup_since_p = np.minimum(
        f + 30 + (rng.random(n_dup) * np.maximum(l_ - f - 60, 0)).astype(np.int64), end_day
    )
    dup_account = np.full(n_people, -1, dtype=np.int64)
    dup_account[dup_person] = n_people + np.arange(n_dup)
    dup_since = np.full(n_people, NEVER, dtype=np.int64)
    dup_since[dup_person] = dup_since_p

    n_acc = n_people + n_dup
    person = np.concatenate([np.arange(n_people), dup_person])
    is_dup = np.arange(n_acc) >= n_people
    signup_acc = np.concatenate([signup, dup_since_p])
    # Codes follow signup order, like a CRM sequence.
    code_rank = np.empty(n_acc, dtype=np.int64)
    code_rank[np.lexsort((np.arange(n_acc), signup_acc))] = np.arange(n_acc)
    code = pl.Series(code_rank + 1).cast(pl.String).str.zfill(7).str.pad_start(8, "C")

    # Names and e-mails (a person's duplicate account repeats them).
    first_name = pl.Series(vocab.FIRST_NAMES).gather(
        rng.integers(0, len(vocab.FIRST_NAMES), n_people)[person]
    )
    last_name = pl.Series(vocab.LAST_NAMES).gather(rng.integers(0, len(vocab.LAST_NAMES), n_people)[person])
    number = (rng.permutation(n_people) + 1)[person]
    form = rng.integers(0, 3, n_people)[person]
    domains, weights = zip(*vocab.EMAIL_DOMAINS, strict=True)
    domain = pl.Series(domains).gather(categorical(rng, weights, n_people)[person])
    old_domain = pl.Series(vocab.OLD_EMAIL_DOMAINS).gather(
        rng.integers(0, len(vocab.OLD_EMAIL_DOMAINS), n_acc)
    )
    frame = pl.DataFrame(
        {"first": first_name, "last": last_name, "number": number, "form": form, "domain": domain,
         "old_domain": old_domain, "upper": is_dup & (rng.random(n_acc) < 0.5)}
    )  # fmt: skip

    def ascii_lower(col: str) -> pl.Expr:
        return pl.col(col).str.normalize("NFD").str.replace_all(r"[^A-Za-z]", "").str.to_lowercase()

    local = (
        pl.when(pl.col("form") == 0)
        .then(pl.format("{}.{}{}", ascii_lower("first"), ascii_lower("last"), "number"))
        .when(pl.col("form") == 1)
        .then(pl.format("{}.{}{}", ascii_lower("last"), ascii_lower("first"), "number"))
        .otherwise(pl.format("{}{}{}", ascii_lower("first").str.slice(0, 1), ascii_lower("last"), "number"))
    )
    emails = frame.select(
        email=pl.when(pl.col("upper")).then(pl.format("{}@{}", local, "domain").str.to_uppercase())
        .otherwise(pl.format("{}@{}", local, "domain")),
        old_email=pl.format("{}@{}", local, "old_domain"),
    )  # fmt: skip
    email_present = has_email[person]
    email = emails["email"].set(pl.Series(~email_present), None)

    # Changes happen in the last two years; those after the older CRM export show between the two.
    recent = np.maximum(signup_acc, end_day - 730)
    u = rng.random(n_acc)
    changed = email_present & ~is_dup & (u < EMAIL_CHANGE_SHARE)
    added = email_present & ~is_dup & (u >= EMAIL_CHANGE_SHARE) & (u < EMAIL_CHANGE_SHARE + EMAIL_ADDED_SHARE)
    change_day = np.where(
        changed | added,
        recent + (rng.random(n_acc) * (end_day - recent)).astype(np.int64),
        NEVER,
    )
    old_email = pl.select(
        pl.when(pl.Series(changed))
        .then(emails["old_email"])
        .when(pl.Series(added))
        .then(None)
        .otherwise(email)
    ).to_series()
    name_fix_day = np.where(
        rng.random(n_acc) < NAME_FIX_SHARE,
        recent + (rng.random(n_acc) * (end_day - recent)).astype(np.int64),
        NEVER,
    )
    optout_day = np.where(
        email_present & (rng.random(n_acc) < OPTOUT_SHARE),
        signup_acc + (rng.random(n_acc) * (end_day - signup_acc + 1)).astype(np.int64),
        NEVER,
    )
    countries, cweights = zip(*vocab.COUNTRIES, strict=True)
    country = pl.Series(countries).gather(categorical(rng, cweights, n_people)[person])
    return Accounts(
        person=person,
        is_duplicate=is_dup,
        code=code,
        signup_day=signup_acc,
        dup_since_day=dup_since,
        dup_account=dup_account,
        email=email.rename("email"),
        old_email=old_email.rename("old_email"),
        email_change_day=change_day,
        first_name=first_name,
        last_name=last_name,
        name_fix_day=name_fix_day,
        country=country,
        optout_day=optout_day,
    )
