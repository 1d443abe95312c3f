"""Top-k metrics per customer (vectorised Polars) and bootstrap intervals (NumPy).

Every metric is a ratio of two per-customer sums, ``value = Σ num / Σ den``, so that the same
bootstrap weight matrix serves every metric, method and scope:

| metric | num (per customer) | den |
|---|---|---|
| hit@k | 1 if any of the k was bought in the window | 1 |
| precision@k | hits / k | 1 |
| recall@k | hits / distinct products bought in the window | 1 |
| ndcg@k | DCG / ideal DCG, binary gains, log2(rank + 1) discount | 1 |
| map@k | Σ precision@rank at each hit / min(k, products bought) | 1 |
| new_item_share | recommended products the customer never bought | products recommended |
| new_item_hit@k | 1 if a never-bought recommended product was bought | 1 if bought anything new |

Catalogue coverage (distinct products recommended / catalogue size) is a property of the
whole list, reported without an interval.

Bootstrap: 1,000 resamples of customers drawn once (a multinomial weight matrix, B × n), shared
by every method and scope, so intervals of methods are paired. A scope (a scenario) is a
subset of the customers; within a resample its estimate is the weighted ratio over that subset.
"""

from __future__ import annotations

import warnings

import numpy as np
import polars as pl

K = 3
#: metric names in report order
METRICS = (
    "hit",
    "precision",
    "recall",
    "ndcg",
    "map",
    "new_item_share",
    "new_item_hit",
    "coverage",
)
_RATIO_METRICS = METRICS[:-1]
OVERALL = "overall"


def per_customer(
    recs: pl.LazyFrame,
    population: pl.LazyFrame,
    test: pl.LazyFrame,
    history: pl.LazyFrame,
    k: int = K,
) -> pl.LazyFrame:
    """One row per (method, customer of the population) with the numerator and denominator of
    every ratio metric (``<metric>_num``, ``<metric>_den``) and the customer's ``scope``.

    ``recs``: method, customer_code, rank, product_key (a method may give fewer than k;
    a customer of the population with no recommendation from a method scores zero).
    ``population``: customer_code, scope. ``test`` / ``history``: distinct
    (customer_code, product_key) bought in the window / before the cutoff.
    """
    methods = recs.select("method").unique()
    bought = test.with_columns(is_hit=pl.lit(True))
    owned = history.with_columns(is_owned=pl.lit(True))
    per_rec = (
        recs.join(population.select("customer_code"), on="customer_code", how="semi")
        .join(bought, on=["customer_code", "product_key"], how="left")
        .join(owned, on=["customer_code", "product_key"], how="left")
        .with_columns(pl.col("is_hit", "is_owned").fill_null(False))
        # joins do not keep row order: sort right before the windows that depend on it
        .sort("method", "customer_code", "rank")
        .with_columns(pos=pl.int_range(1, pl.len() + 1).over("method", "customer_code"))
        .with_columns(
            gain=pl.col("is_hit").cast(pl.Float64) / (pl.col("pos") + 1).cast(pl.Float64).log(2),
            prec_at=pl.col("is_hit").cum_sum().over("method", "customer_code") / pl.col("pos"),
        )
        .filter(pl.col("pos") <= k)
        .group_by("method", "customer_code")
        .agg(
            n_recs=pl.len(),
            hits=pl.col("is_hit").sum(),
            dcg=pl.col("gain").sum(),
            ap=(pl.col("prec_at") * pl.col("is_hit")).sum(),
            new_recs=(~pl.col("is_owned")).sum(),
            new_hits=(pl.col("is_hit") & ~pl.col("is_owned")).sum(),
        )
    )
    truth = (
        test.join(owned, on=["customer_code", "product_key"], how="left")
        .group_by("customer_code")
        .agg(n_test=pl.len(), n_test_new=pl.col("is_owned").is_null().sum())
    )
    n_ideal = pl.min_horizontal(pl.col("n_test"), pl.lit(k))
    idcg = (
        pl.int_ranges(1, n_ideal + 1).list.eval((pl.element() + 1).cast(pl.Float64).log(2).pow(-1)).list.sum()
    )
    return (
        population.join(methods, how="cross")
        .join(per_rec, on=["method", "customer_code"], how="left")
        .join(truth, on="customer_code", how="left")
        .with_columns(
            pl.col("n_recs", "hits", "dcg", "ap", "new_recs", "new_hits", "n_test", "n_test_new").fill_null(0)
        )
        .with_columns(
            hit_num=(pl.col("hits") > 0).cast(pl.Float64),
            precision_num=pl.col("hits") / k,
            recall_num=pl.when(pl.col("n_test") > 0).then(pl.col("hits") / pl.col("n_test")).otherwise(0.0),
            ndcg_num=pl.when(pl.col("n_test") > 0).then(pl.col("dcg") / idcg).otherwise(0.0),
            map_num=pl.when(pl.col("n_test") > 0).then(pl.col("ap") / n_ideal).otherwise(0.0),
            new_item_share_num=pl.col("new_recs").cast(pl.Float64),
            new_item_share_den=pl.col("n_recs").cast(pl.Float64),
            new_item_hit_num=(pl.col("new_hits") > 0).cast(pl.Float64),
            new_item_hit_den=(pl.col("n_test_new") > 0).cast(pl.Float64),
        )
        .with_columns([pl.lit(1.0).alias(f"{m}_den") for m in ("hit", "precision", "recall", "ndcg", "map")])
        .select(
            "method",
            "customer_code",
            "scope",
            *[pl.col(f"{m}_{part}") for m in _RATIO_METRICS for part in ("num", "den")],
        )
    )


def coverage(recs: pl.LazyFrame, population: pl.LazyFrame, catalogue_size: int) -> pl.LazyFrame:
    """Distinct products recommended to the population / catalogue size, per method and
    scope (the overall scope included): ``method, scope, value, n_customers``."""
    base = recs.join(population, on="customer_code")
    overall = base.with_columns(scope=pl.lit(OVERALL))
    return (
        pl.concat([overall, base])
        .group_by("method", "scope")
        .agg(
            value=pl.col("product_key").n_unique() / max(catalogue_size, 1),
            n_customers=pl.col("customer_code").n_unique(),
        )
    )


def bootstrap_weights(n: int, n_resamples: int = 1000, seed: int = 0) -> np.ndarray:
    """``n_resamples × n`` counts: how many times each customer is drawn in each resample.

    Drawn a few resamples at a time (the generator's stream is the same as one draw of them
    all), so that NumPy's int64 counts never exist whole beside the float32 result: at 800,000
    customers that whole draw alone was 6.4 GB."""
    rng = np.random.default_rng(seed)
    if n == 0:
        return np.zeros((n_resamples, 0), dtype=np.float32)
    out = np.empty((n_resamples, n), dtype=np.float32)
    pvals = np.full(n, 1.0 / n)
    step = max(1, _DRAW_CELLS // n)
    for lo in range(0, n_resamples, step):
        hi = min(n_resamples, lo + step)
        out[lo:hi] = rng.multinomial(n, pvals, size=hi - lo)
    return out


#: int64 counts drawn at a time by :func:`bootstrap_weights` (128 MB)
_DRAW_CELLS = 16_000_000


def summarise(
    rows: pl.DataFrame,
    cov: pl.DataFrame | None = None,
    n_resamples: int = 1000,
    seed: int = 0,
    level: float = 0.95,
) -> pl.DataFrame:
    """Point estimates and percentile bootstrap intervals for every method × scope × metric.

    ``rows`` is :func:`per_customer` collected. The scopes are ``overall`` and every distinct
    ``scope`` value. ``n_customers`` counts the customers in the denominator (for
    new_item_hit: those who bought something new)."""
    methods = sorted(rows["method"].unique().to_list())
    customers = rows.select("customer_code", "scope").unique("customer_code").sort("customer_code")
    n = customers.height
    weights = bootstrap_weights(n, n_resamples, seed)
    scope_values = customers["scope"]
    scopes = [OVERALL, *sorted(s for s in scope_values.unique().to_list() if s != OVERALL)]
    alpha = (1 - level) / 2
    out = []
    for method in methods:  # a handful of methods: matrices, not rows, inside
        wide = customers.select("customer_code").join(
            rows.filter(pl.col("method") == method), on="customer_code", how="left"
        )
        num = wide.select([f"{m}_num" for m in _RATIO_METRICS]).fill_null(0).to_numpy().astype(np.float32)
        den = wide.select([f"{m}_den" for m in _RATIO_METRICS]).fill_null(0).to_numpy().astype(np.float32)
        for scope in scopes:
            mask = (
                np.ones(n, dtype=np.float32)
                if scope == OVERALL
                else (scope_values == scope).to_numpy().astype(np.float32)
            )
            n_sum, d_sum = (num * mask[:, None]).sum(0), (den * mask[:, None]).sum(0)
            b_num, b_den = weights @ (num * mask[:, None]), weights @ (den * mask[:, None])
            with np.errstate(divide="ignore", invalid="ignore"):
                value = n_sum / d_sum
                boot = b_num / b_den
            with warnings.catch_warnings():  # a scope nobody in: all-NaN columns, no interval
                warnings.simplefilter("ignore", RuntimeWarning)
                low = np.nanquantile(boot, alpha, axis=0)
                high = np.nanquantile(boot, 1 - alpha, axis=0)
            counts = ((den * mask[:, None]) > 0).sum(0)
            for j, metric in enumerate(_RATIO_METRICS):
                out.append(
                    (
                        method,
                        scope,
                        metric,
                        _num(value[j]),
                        _num(low[j]),
                        _num(high[j]),
                        int(counts[j]),
                    )
                )
    table = pl.DataFrame(
        out,
        schema={
            "method": pl.String,
            "scope": pl.String,
            "metric": pl.String,
            "value": pl.Float64,
            "ci_low": pl.Float64,
            "ci_high": pl.Float64,
            "n_customers": pl.Int64,
        },
        orient="row",
    )
    if cov is not None:
        table = pl.concat(
            [
                table,
                cov.select(
                    "method",
                    "scope",
                    metric=pl.lit("coverage"),
                    value=pl.col("value").cast(pl.Float64),
                    ci_low=pl.lit(None, pl.Float64),
                    ci_high=pl.lit(None, pl.Float64),
                    n_customers=pl.col("n_customers").cast(pl.Int64),
                ),
            ]
        )
    order = {m: i for i, m in enumerate(METRICS)}
    return table.sort(
        pl.col("scope") != OVERALL,
        "scope",
        "method",
        pl.col("metric").replace_strict(order, return_dtype=pl.Int32),
    )


#: the metrics whose paired differences are reported (:func:`differences`)
PAIRED = ("hit", "new_item_hit")
#: metric name of a paired difference: ``diff_<metric>``, value = reference − method
DIFF = "diff_{}"


def differences(
    rows: pl.DataFrame,
    reference: str,
    n_resamples: int = 1000,
    seed: int = 0,
    level: float = 0.95,
) -> pl.DataFrame:
    """``reference`` minus every other method, per scope and metric of :data:`PAIRED`, with
    the percentile interval of the difference over the same resamples as :func:`summarise`
    (same seed, same customers: the same weight matrix), so a difference is judged on paired
    data. Rows as :func:`summarise`'s, metric ``diff_<metric>``, method the other method;
    ``n_customers`` counts the customers in the denominator."""
    customers = rows.select("customer_code", "scope").unique("customer_code").sort("customer_code")
    n = customers.height
    if reference not in set(rows["method"]) or n == 0:
        return pl.DataFrame(schema=_SCHEMA)
    weights = bootstrap_weights(n, n_resamples, seed)
    scope_values = customers["scope"]
    scopes = [OVERALL, *sorted(s for s in scope_values.unique().to_list() if s != OVERALL)]
    alpha = (1 - level) / 2
    cols = [f"{m}_{part}" for m in PAIRED for part in ("num", "den")]

    def matrix(method: str) -> np.ndarray:
        wide = customers.select("customer_code").join(
            rows.filter(pl.col("method") == method), on="customer_code", how="left"
        )
        return wide.select(cols).fill_null(0).to_numpy().astype(np.float32)

    ref = matrix(reference)
    out = []
    for method in sorted(set(rows["method"]) - {reference}):
        other = matrix(method)
        for scope in scopes:
            mask = np.ones(n, bool) if scope == OVERALL else (scope_values == scope).to_numpy()
            w = weights[:, mask]
            for j, metric in enumerate(PAIRED):
                num_r, den = ref[mask, 2 * j], ref[mask, 2 * j + 1]
                num_o = other[mask, 2 * j]
                if den.sum() == 0:
                    continue
                with np.errstate(divide="ignore", invalid="ignore"):
                    boot = (w @ num_r - w @ num_o) / (w @ den)
                with warnings.catch_warnings():
                    warnings.simplefilter("ignore", RuntimeWarning)
                    low, high = np.nanquantile(boot, [alpha, 1 - alpha])
                value = (num_r.sum() - num_o.sum()) / den.sum()
                out.append(
                    (
                        method,
                        scope,
                        DIFF.format(metric),
                        _num(value),
                        _num(low),
                        _num(high),
                        int((den > 0).sum()),
                    )
                )
    return pl.DataFrame(out, schema=_SCHEMA, orient="row")


_SCHEMA = {
    "method": pl.String,
    "scope": pl.String,
    "metric": pl.String,
    "value": pl.Float64,
    "ci_low": pl.Float64,
    "ci_high": pl.Float64,
    "n_customers": pl.Int64,
}


def _num(x: float) -> float | None:
    return None if x is None or not np.isfinite(x) else float(x)


def evaluate(
    recs: pl.LazyFrame,
    population: pl.LazyFrame,
    test: pl.LazyFrame,
    history: pl.LazyFrame,
    catalogue_size: int,
    k: int = K,
    n_resamples: int = 1000,
    seed: int = 0,
    paired_with: str | None = None,
) -> pl.DataFrame:
    """Every metric for every method and scope, with intervals (see :func:`summarise`); with
    ``paired_with``, also that method minus every other on :data:`PAIRED` (:func:`differences`)."""
    rows = per_customer(recs, population, test, history, k).collect()
    cov = coverage(recs, population, catalogue_size).collect()
    table = summarise(rows, cov, n_resamples=n_resamples, seed=seed)
    if paired_with is None:
        return table
    return pl.concat([table, differences(rows, paired_with, n_resamples=n_resamples, seed=seed)])
