"""The e-mailing tool's history: campaigns, who got them, and the bounces they revealed."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date, timedelta

import numpy as np
import polars as pl

from reco.demo_data._days import epoch_day
from reco.demo_data._sampling import categorical
from reco.demo_data.people import NEVER, Accounts

BOUNCE_SHARE = 0.03  # of accounts that received e-mails


@dataclass(frozen=True)
class Campaign:
    campaign_id: str
    day: int  # days since epoch
    channel: str
    reach: float  # share of the eligible accounts that receive it
    hour: int


def campaigns(start: date, end: date) -> list[Campaign]:
    """A monthly newsletter, seasonal promotions, and two reminders in the last ten days."""
    out: list[Campaign] = []
    for year in range(start.year, end.year + 1):
        for month in range(1, 13):
            newsletter = epoch_day(date(year, month, 10))
            out.append(Campaign(f"NL-{year}-{month:02d}", newsletter, "email", 0.06, 9))
        out.append(Campaign(f"PROMO-{year}-ETE", epoch_day(date(year, 6, 5)), "email", 0.10, 10))
        out.append(Campaign(f"FOIRE-{year}", epoch_day(date(year, 9, 15)), "sms", 0.05, 11))
        out.append(Campaign(f"PROMO-{year}-NOEL", epoch_day(date(year, 11, 25)), "email", 0.15, 10))
    for days_before, suffix, reach in ((9, "A", 0.08), (2, "B", 0.12)):
        d = end - timedelta(days=days_before)
        out.append(Campaign(f"RELANCE-{d:%Y%m%d}-{suffix}", epoch_day(d), "email", reach, 8))
    first, last = epoch_day(start), epoch_day(end)
    return sorted((c for c in out if first <= c.day <= last), key=lambda c: (c.day, c.campaign_id))


def build_contacts(
    rng: np.random.Generator, accounts: Accounts, start: date, end: date
) -> tuple[pl.DataFrame, np.ndarray]:
    """The contact rows (account, ts, channel, campaign_id, status) and every account's bounce
    day (NEVER if none)."""
    camps = campaigns(start, end)
    with_email = np.flatnonzero(accounts.email.is_not_null().to_numpy())
    n_acc = len(accounts)
    reach = np.array([c.reach for c in camps])
    per_campaign = rng.binomial(len(with_email), reach)
    camp = np.repeat(np.arange(len(camps)), per_campaign)
    account = (
        with_email[rng.integers(0, max(len(with_email), 1), len(camp))]
        if len(with_email)
        else camp[:0]
    )
    camp_day = np.array([c.day for c in camps])[camp]
    eligible = (accounts.signup_day[account] <= camp_day) & (
        accounts.optout_day[account] > camp_day
    )
    frame = (
        pl.DataFrame({"account": account[eligible], "camp": camp[eligible]})
        .unique(maintain_order=True)
        .sort("account", "camp")
    )
    n = frame.height
    camp = frame["camp"].to_numpy()
    status_i = categorical(rng, [0.55, 0.30, 0.15], n)
    is_sms = np.array([c.channel == "sms" for c in camps])[camp]
    status_i[is_sms] = 0
    seconds = (
        np.array([c.day for c in camps])[camp].astype(np.int64) * 86400
        + np.array([c.hour for c in camps])[camp] * 3600
        + rng.integers(0, 7200, n)
    )
    frame = frame.with_columns(
        ts=pl.Series(seconds * 1_000_000).cast(pl.Datetime("us")),
        channel=pl.Series([c.channel for c in camps]).gather(camp),
        campaign_id=pl.Series([c.campaign_id for c in camps]).gather(camp),
        status=pl.Series(["sent", "opened", "clicked"]).gather(status_i),
        is_email=~pl.Series(is_sms),
    )

    # Bounces: for a few accounts one e-mail bounces; the tool sends them nothing after that.
    emailed = frame.filter("is_email")["account"].unique(maintain_order=True).to_numpy()
    bounced = np.zeros(n_acc, dtype=bool)
    bounced[emailed[rng.random(len(emailed)) < BOUNCE_SHARE]] = True
    pick = rng.random(n_acc)
    frame = (
        frame.with_columns(
            bounced=pl.Series(bounced[frame["account"].to_numpy()]),
            pos=pl.int_range(pl.len()).over("account", "is_email"),
            n_mail=pl.len().over("account", "is_email"),
        )
        .with_columns(
            bounce_pos=(pl.Series(pick[frame["account"].to_numpy()]) * pl.col("n_mail"))
            .floor()
            .cast(pl.Int64),
        )
        .with_columns(
            is_bounce=pl.col("bounced")
            & pl.col("is_email")
            & (pl.col("pos") == pl.col("bounce_pos")),
            after=pl.col("bounced") & (pl.col("pos") > pl.col("bounce_pos")),
        )
    )
    bounce_day = np.full(n_acc, NEVER, dtype=np.int64)
    hits = frame.filter("is_bounce")
    bounce_day[hits["account"].to_numpy()] = (hits["ts"].dt.epoch("d")).to_numpy()
    contacts = (
        frame.filter(~(pl.col("after") & pl.col("is_email")))
        .with_columns(status=pl.when("is_bounce").then(pl.lit("bounced")).otherwise("status"))
        .select("account", "ts", "channel", "campaign_id", "status")
    )
    return contacts, bounce_day
