"""The control group of a run: who is held out of the campaign, decided at scoring time.

Every scored customer (one with items) is in exactly one group. Within each scenario, the
customers are ordered by ``sha256(run_id || ':' || customer_code)`` and the first
``round_half_up(control_share x n)`` are the control group: the draw is stratified by scenario
(each has its own control), reproducible from the run id and the customer alone (the same run
id draws the same customers, another run id other ones), and independent of the order or the
chunking of the scoring. Control customers keep their items: what they would have been sent
is what the campaign is measured against.
"""

from __future__ import annotations

import polars as pl
import polars_hash as plh

GROUPS = ("treatment", "control")


def control_size(share: float, n: pl.Expr) -> pl.Expr:
    """round-half-up(share x n), as an integer expression (a hair of slack for 0.1 x 5 etc.)."""
    return (n * share + 0.5 + 1e-9).floor().cast(pl.Int64)


def assign_groups(items: pl.LazyFrame | pl.DataFrame, run_id: str, control_share: float) -> pl.DataFrame:
    """One row per scored customer of ``items`` (``customer_code``, ``scenario``): its ``grp``,
    ``treatment`` or ``control``, sorted by customer code."""
    draw = plh.concat_str(pl.lit(f"{run_id}:"), pl.col("customer_code")).chash.sha2_256()
    position = pl.int_range(pl.len()).over("scenario")
    n_control = control_size(control_share, pl.len().over("scenario"))
    return (
        items.lazy()
        .select("customer_code", "scenario")
        .unique("customer_code")
        .with_columns(draw=draw)
        .sort("scenario", "draw", "customer_code")
        .with_columns(
            grp=pl.when(position < n_control).then(pl.lit("control")).otherwise(pl.lit("treatment"))
        )
        .select("customer_code", "scenario", "grp")
        .sort("customer_code")
        .collect()
    )


def group_counts(groups: pl.DataFrame) -> dict[str, dict[str, int]]:
    """{scenario: {"treatment": n, "control": n}}, scenarios in name order."""
    counts = groups.group_by("scenario", "grp").len().sort("scenario", "grp")
    out: dict[str, dict[str, int]] = {}
    for scenario, grp, n in counts.iter_rows():
        out.setdefault(scenario, dict.fromkeys(GROUPS, 0))[grp] = n
    return out
