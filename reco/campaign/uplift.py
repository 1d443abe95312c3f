"""Treated against control: uplift estimates with intervals, pure functions (no database).

:func:`compare` takes rows shaped like ``reco.run_outcome`` and returns, per ``by`` key and
metric, the two groups' values, the absolute and relative uplift with their intervals, the
minimum detectable effect and whether the comparison is under-powered. docs/campaigns.md,
"Uplift report: the statistics", gives the formulas; in short:

- **conversion** (``n_orders > 0``) and **recommended_rate** (``bought_recommended``): a
  difference of proportions with Newcombe's hybrid score interval (his method 10, built from
  the two Wilson intervals; good coverage down to small groups and rates near 0); relative
  uplift ``p_t / p_c - 1`` from the log risk ratio (Katz: ``se = sqrt(1/x_t - 1/n_t + 1/x_c -
  1/n_c)``), undefined when a group has no event.
- **revenue_per_customer**: Welch's interval for a difference of means (Welch-Satterthwaite
  degrees of freedom, Student quantile); relative uplift ``m_t / m_c - 1`` from the delta
  method on ``log(m_t / m_c)``. Revenue is heavy-tailed (most customers buy nothing, a few buy
  a lot): the interval relies on the central limit theorem, and a ``note`` says so when a group
  is smaller than Cochran's rule ``n > 25 g1^2`` (``g1`` the sample skewness) asks. With fewer
  than :data:`MIN_BUYERS` buyers in a group the mean rests on a handful of baskets and the
  interval is withheld (null, with a ``note``): the simulator showed such intervals holding the
  truth in as few as half of the campaigns (docs/campaigns.md, "Measured coverage"). The point
  estimate and the MDE stay, and the comparison is under-powered.
- **incremental_revenue**: the revenue uplift per customer times ``n_treatment``, its interval
  and MDE scaled the same way; ``treatment`` is the treated group's revenue and ``control``
  what it would have been at the control group's revenue per customer.
- **mde**: the smallest absolute effect a two-sided 5% test detects with 80% power at these
  group sizes, ``(z_0.975 + z_0.80) * se0`` (``se0`` the standard error with a pooled rate for
  proportions, the Welch standard error for revenue).
- **under_powered**: a group has fewer than :data:`MIN_GROUP_SIZE` customers, or the MDE is
  unknown or larger than the observed absolute uplift.

Nothing is NaN: what cannot be computed (an empty group, no variance, no event for a ratio)
is null, and ``note`` says why.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from statistics import NormalDist

import polars as pl

from reco.errors import RecoError

METRICS = ("conversion", "revenue_per_customer", "recommended_rate", "incremental_revenue")
#: the output's columns after the ``by`` columns
COLUMNS = (
    "metric",
    "n_treatment",
    "n_control",
    "treatment",
    "control",
    "abs_uplift",
    "abs_low",
    "abs_high",
    "rel_uplift",
    "rel_low",
    "rel_high",
    "mde",
    "under_powered",
    "note",
)
#: a comparison with a smaller group is under-powered whatever its MDE says
MIN_GROUP_SIZE = 30
#: the MDE's test: two-sided at this level, with this power
MDE_ALPHA = 0.05
MDE_POWER = 0.80
#: Cochran's rule for the t interval of a skewed mean: n > COCHRAN * skewness^2
COCHRAN = 25
#: a revenue interval needs at least this many buyers in each group (else it is withheld)
MIN_BUYERS = 10

_NORMAL = NormalDist()
_NEEDED = ("grp", "n_orders", "revenue", "bought_recommended")


def z_quantile(p: float) -> float:
    return _NORMAL.inv_cdf(p)


def mde_multiplier() -> float:
    """``z_(1 - alpha/2) + z_power`` (2.8016 for 5% and 80%)."""
    return z_quantile(1 - MDE_ALPHA / 2) + z_quantile(MDE_POWER)


# -- Student's t ----------------------------------------------------------------------------


def _betacf(a: float, b: float, x: float) -> float:
    """The continued fraction of the regularised incomplete beta (modified Lentz)."""
    tiny = 1e-300
    qab, qap, qam = a + b, a + 1, a - 1
    c, d = 1.0, 1 - qab * x / qap
    d = 1 / (d if abs(d) > tiny else tiny)
    h = d
    for m in range(1, 400):
        m2 = 2 * m
        aa = m * (b - m) * x / ((qam + m2) * (a + m2))
        d = 1 + aa * d
        d = 1 / (d if abs(d) > tiny else tiny)
        c = 1 + aa / c if abs(1 + aa / c) > tiny else tiny
        h *= d * c
        aa = -(a + m) * (qab + m) * x / ((a + m2) * (qap + m2))
        d = 1 + aa * d
        d = 1 / (d if abs(d) > tiny else tiny)
        c = 1 + aa / c if abs(1 + aa / c) > tiny else tiny
        delta = d * c
        h *= delta
        if abs(delta - 1) < 1e-15:
            break
    return h


def _betai(a: float, b: float, x: float) -> float:
    """Regularised incomplete beta I_x(a, b)."""
    if x <= 0:
        return 0.0
    if x >= 1:
        return 1.0
    front = math.exp(
        math.lgamma(a + b) - math.lgamma(a) - math.lgamma(b) + a * math.log(x) + b * math.log1p(-x)
    )
    if x < (a + 1) / (a + b + 2):
        return front * _betacf(a, b, x) / a
    return 1 - front * _betacf(b, a, 1 - x) / b


def t_cdf(t: float, df: float) -> float:
    """P(T <= t) for Student's t with ``df`` (possibly fractional) degrees of freedom."""
    tail = 0.5 * _betai(df / 2, 0.5, df / (df + t * t))
    return 1 - tail if t > 0 else tail


def t_pdf(t: float, df: float) -> float:
    log_c = math.lgamma((df + 1) / 2) - math.lgamma(df / 2) - 0.5 * math.log(df * math.pi)
    return math.exp(log_c - (df + 1) / 2 * math.log1p(t * t / df))


def _t_start(p: float, df: float) -> float:
    """The Cornish-Fisher expansion of the t quantile (Abramowitz & Stegun 26.7.5)."""
    x = z_quantile(p)
    g1 = (x**3 + x) / 4
    g2 = (5 * x**5 + 16 * x**3 + 3 * x) / 96
    g3 = (3 * x**7 + 19 * x**5 + 17 * x**3 - 15 * x) / 384
    g4 = (79 * x**9 + 776 * x**7 + 1482 * x**5 - 1920 * x**3 - 945 * x) / 92160
    return x + g1 / df + g2 / df**2 + g3 / df**3 + g4 / df**4


def t_quantile(p: float, df: float) -> float:
    """The ``p`` quantile of Student's t: Newton's method on :func:`t_cdf` from the
    Cornish-Fisher start, bisection when that does not settle (very few degrees of freedom)."""
    if df > 1e7:
        return z_quantile(p)
    x = _t_start(p, df)
    if df >= 3:
        for _ in range(20):
            step = (t_cdf(x, df) - p) / t_pdf(x, df)
            x -= step
            if abs(step) < 1e-12 * max(1.0, abs(x)):
                return x
    lo, hi = -1.0, 1.0
    while t_cdf(lo, df) > p:
        lo *= 2
    while t_cdf(hi, df) < p:
        hi *= 2
    for _ in range(200):
        mid = (lo + hi) / 2
        if t_cdf(mid, df) < p:
            lo = mid
        else:
            hi = mid
        if hi - lo < 1e-12 * max(1.0, abs(mid)):
            break
    return (lo + hi) / 2


# -- intervals --------------------------------------------------------------------------------


def wilson(x: int, n: int, z: float) -> tuple[float, float]:
    """Wilson's score interval for the proportion x / n."""
    centre = (x + z * z / 2) / (n + z * z)
    half = z / (n + z * z) * math.sqrt(x * (n - x) / n + z * z / 4)
    return (0.0 if x == 0 else centre - half), (1.0 if x == n else centre + half)


def newcombe(x1: int, n1: int, x0: int, n0: int, z: float) -> tuple[float, float, float]:
    """p1 - p0 and Newcombe's hybrid score interval (method 10, Newcombe 1998)."""
    p1, p0 = x1 / n1, x0 / n0
    l1, u1 = wilson(x1, n1, z)
    l0, u0 = wilson(x0, n0, z)
    d = p1 - p0
    return d, d - math.sqrt((p1 - l1) ** 2 + (u0 - p0) ** 2), d + math.sqrt((u1 - p1) ** 2 + (p0 - l0) ** 2)


def risk_ratio(x1: int, n1: int, x0: int, n0: int, z: float) -> tuple[float, float, float]:
    """p1 / p0 - 1 and its interval from the log risk ratio (Katz)."""
    log_rr = math.log((x1 / n1) / (x0 / n0))
    se = math.sqrt(1 / x1 - 1 / n1 + 1 / x0 - 1 / n0)
    return math.exp(log_rr) - 1, math.exp(log_rr - z * se) - 1, math.exp(log_rr + z * se) - 1


def welch(m1: float, v1: float, n1: int, m0: float, v0: float, n0: int, confidence: float):
    """m1 - m0, its Welch interval and the Welch-Satterthwaite degrees of freedom."""
    a, b = v1 / n1, v0 / n0
    se = math.sqrt(a + b)
    df = (a + b) ** 2 / (a * a / (n1 - 1) + b * b / (n0 - 1))
    t = t_quantile(1 - (1 - confidence) / 2, df)
    d = m1 - m0
    return d, d - t * se, d + t * se, df


def ratio_of_means(m1: float, v1: float, n1: int, m0: float, v0: float, n0: int, z: float):
    """m1 / m0 - 1 and its interval from the delta method on log(m1 / m0)."""
    log_ratio = math.log(m1 / m0)
    se = math.sqrt(v1 / (n1 * m1 * m1) + v0 / (n0 * m0 * m0))
    return math.exp(log_ratio) - 1, math.exp(log_ratio - z * se) - 1, math.exp(log_ratio + z * se) - 1


# -- compare ----------------------------------------------------------------------------------


def _row(metric: str, n1: int, n0: int, **values) -> dict:
    row = dict.fromkeys(COLUMNS)
    row.update(metric=metric, n_treatment=n1, n_control=n0, **values)
    return row


def _powered(row: dict, notes: list[str]) -> dict:
    n1, n0, mde, d = row["n_treatment"], row["n_control"], row["mde"], row["abs_uplift"]
    reasons = []
    if min(n1, n0) < MIN_GROUP_SIZE:
        reasons.append(f"a group has fewer than {MIN_GROUP_SIZE} customers")
    elif row["abs_low"] is None:
        reasons.append("no interval")
    elif mde is None or d is None:
        reasons.append("no minimum detectable effect")
    elif mde > abs(d):
        reasons.append("the minimum detectable effect exceeds the observed uplift")
    row["under_powered"] = bool(reasons)
    row["note"] = "; ".join(notes + (["under-powered: " + reasons[0]] if reasons else [])) or None
    return row


def _proportion(metric: str, x1: int, n1: int, x0: int, n0: int, z: float) -> dict:
    notes: list[str] = []
    row = _row(metric, n1, n0)
    if n1 == 0 or n0 == 0:
        return _powered(row, ["empty group"])
    p1, p0 = x1 / n1, x0 / n0
    d, lo, hi = newcombe(x1, n1, x0, n0, z)
    row.update(treatment=p1, control=p0, abs_uplift=d, abs_low=lo, abs_high=hi)
    if x1 == 0 or x0 == 0:
        notes.append("relative uplift undefined: no event in a group")
    else:
        row.update(zip(("rel_uplift", "rel_low", "rel_high"), risk_ratio(x1, n1, x0, n0, z), strict=True))
    pooled = (x1 + x0) / (n1 + n0)
    if 0 < pooled < 1:
        row["mde"] = mde_multiplier() * math.sqrt(pooled * (1 - pooled) * (1 / n1 + 1 / n0))
    else:
        notes.append("no variance: the same outcome for everybody")
    return _powered(row, notes)


def _revenue(g: dict, confidence: float, z: float) -> tuple[dict, dict]:
    n1, n0 = g["n_t"], g["n_c"]
    notes: list[str] = []
    heavy = False
    row = _row("revenue_per_customer", n1, n0)
    if n1 == 0 or n0 == 0:
        notes.append("empty group")
    else:
        m1, m0, v1, v0 = g["rev_mean_t"], g["rev_mean_c"], g["rev_var_t"] or 0.0, g["rev_var_c"] or 0.0
        row.update(treatment=m1, control=m0, abs_uplift=m1 - m0)
        if n1 < 2 or n0 < 2:
            notes.append("a group has fewer than 2 customers: no variance")
        elif v1 + v0 == 0:
            notes.append("no variance: the same revenue for everybody")
        else:
            row["mde"] = mde_multiplier() * math.sqrt(v1 / n1 + v0 / n0)
            buyers = min(g["conv_t"], g["conv_c"])
            if buyers < MIN_BUYERS:
                heavy = True
                notes.append(
                    f"no reliable 95% interval: {buyers} buyers in a group (fewer than {MIN_BUYERS})"
                )
            else:
                d, lo, hi, _ = welch(m1, v1, n1, m0, v0, n0, confidence)
                row.update(abs_low=lo, abs_high=hi)
            for n, skew in ((n1, g["rev_skew_t"]), (n0, g["rev_skew_c"])):
                if not heavy and skew is not None and math.isfinite(skew) and n <= COCHRAN * skew * skew:
                    notes.append(
                        f"heavy tails: n = {n} <= {COCHRAN} x skewness^2 = {COCHRAN * skew * skew:.0f}"
                    )
                    break
        if m1 > 0 and m0 > 0 and n1 >= 2 and n0 >= 2 and v1 + v0 > 0 and not heavy:
            row.update(
                zip(
                    ("rel_uplift", "rel_low", "rel_high"),
                    ratio_of_means(m1, v1, n1, m0, v0, n0, z),
                    strict=True,
                )
            )
        elif m0 <= 0 or m1 <= 0:
            notes.append("relative uplift undefined: no revenue in a group")
    per_customer = _powered(row, notes)
    total = dict(per_customer, metric="incremental_revenue")
    for col in ("treatment", "control", "abs_uplift", "abs_low", "abs_high", "mde"):
        if total[col] is not None:
            total[col] = total[col] * n1
    return per_customer, _powered(total, notes)


def compare(outcomes: pl.DataFrame, by: Sequence[str] = (), confidence: float = 0.95) -> pl.DataFrame:
    """Treatment against control per ``by`` key: one row per key and metric (:data:`METRICS`),
    with the columns ``by`` + :data:`COLUMNS`. Keys are sorted; a key one group lacks still
    gets its rows (nulls, a note, under-powered)."""
    by = list(by)
    missing = [c for c in (*_NEEDED, *by) if c not in outcomes.columns]
    if missing:
        raise RecoError(
            f"outcomes: missing column(s) {', '.join(missing)} (expected rows shaped like reco.run_outcome)"
        )
    if not 0 < confidence < 1:
        raise RecoError(f"confidence {confidence}: expected a level between 0 and 1, e.g. 0.95")
    bad = outcomes.filter(~pl.col("grp").is_in(["treatment", "control"]))
    if bad.height:
        raise RecoError(f"outcomes: grp {bad['grp'][0]!r}: expected treatment or control")
    keys = by or ["_all"]
    revenue = pl.col("revenue").cast(pl.Float64)
    base = outcomes.lazy() if by else outcomes.lazy().with_columns(_all=pl.lit(True))
    stats = base.group_by(*keys, "grp").agg(
        n=pl.len(),
        conv=(pl.col("n_orders") > 0).sum(),
        rec=pl.col("bought_recommended").cast(pl.Int64).sum(),
        rev_mean=revenue.mean(),
        rev_var=revenue.var(ddof=1),
        rev_skew=revenue.skew(bias=False),
    )
    wide = (
        stats.filter(pl.col("grp") == "treatment")
        .drop("grp")
        .join(
            stats.filter(pl.col("grp") == "control").drop("grp"),
            on=keys,
            how="full",
            coalesce=True,
            suffix="_c",
            nulls_equal=True,
        )
        .rename({c: f"{c}_t" for c in ("n", "conv", "rec", "rev_mean", "rev_var", "rev_skew")})
        .with_columns(pl.col("n_t", "n_c", "conv_t", "conv_c", "rec_t", "rec_c").fill_null(0))
        .sort(keys, nulls_last=True)
        .collect()
    )
    z = z_quantile(1 - (1 - confidence) / 2)
    rows = []
    for g in wide.iter_rows(named=True):
        key = {c: g[c] for c in by}
        per_customer, total = _revenue(g, confidence, z)
        for row in (
            _proportion("conversion", g["conv_t"], g["n_t"], g["conv_c"], g["n_c"], z),
            per_customer,
            _proportion("recommended_rate", g["rec_t"], g["n_t"], g["rec_c"], g["n_c"], z),
            total,
        ):
            rows.append({**key, **row})
    schema = {
        **{c: outcomes.schema[c] for c in by},
        "metric": pl.String,
        "n_treatment": pl.Int64,
        "n_control": pl.Int64,
        **{c: pl.Float64 for c in COLUMNS[3:12]},
        "under_powered": pl.Boolean,
        "note": pl.String,
    }
    return pl.DataFrame(rows, schema=schema)
