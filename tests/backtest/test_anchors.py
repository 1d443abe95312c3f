"""The protocol and baselines against the anchor table (ANCHORS.md), on the real exports."""

from datetime import date

import polars as pl
import pytest

from reco.backtest import baselines, metrics, online_retail, tifuknn
from reco.backtest.protocol import split

pytestmark = pytest.mark.skipif(
    not all(p.exists() for p in online_retail.default_paths()),
    reason="Online Retail II exports not present",
)


@pytest.fixture(scope="module")
def results_2011_09():
    s = split(online_retail.read_events().collect().lazy(), date(2011, 9, 1), 90)
    recs = baselines.all_baselines(s, s.eligible)
    population = s.eligible.with_columns(scope=pl.lit("overall"))
    catalogue = s.catalogue.collect().height
    return metrics.evaluate(recs.lazy(), population, s.test, s.history, catalogue)


def _v(table, method, metric):
    return table.filter(method=method, metric=metric, scope="overall")["value"].item()


def test_eligible_customers_match_the_anchor_count(results_2011_09):
    assert results_2011_09.filter(method="POP", metric="hit")["n_customers"].item() == 2236


def test_pop_matches_the_anchor(results_2011_09):
    assert _v(results_2011_09, "POP", "hit") == pytest.approx(0.233, abs=0.005)
    assert _v(results_2011_09, "POP", "ndcg") == pytest.approx(0.096, abs=0.01)
    assert _v(results_2011_09, "POP", "new_item_hit") == pytest.approx(0.075, abs=0.005)
    row = results_2011_09.filter(method="POP", metric="hit", scope="overall")
    assert row["ci_low"].item() == pytest.approx(0.215, abs=0.006)
    assert row["ci_high"].item() == pytest.approx(0.250, abs=0.006)


def test_sar_matches_the_anchor(results_2011_09):
    assert _v(results_2011_09, "SAR", "hit") == pytest.approx(0.204, abs=0.01)
    assert _v(results_2011_09, "SAR", "ndcg") == pytest.approx(0.090, abs=0.01)
    assert _v(results_2011_09, "SAR", "new_item_hit") == pytest.approx(0.212, abs=0.01)


def test_repeat_matches_the_anchor(results_2011_09):
    # ANCHORS.md: own products by number of orders, ties by most recent purchase, then by
    # POP rank: 0.661 [0.641, 0.683]
    assert _v(results_2011_09, "REPEAT", "hit") == pytest.approx(0.661, abs=0.005)
    assert _v(results_2011_09, "REPEAT", "ndcg") == pytest.approx(0.413, abs=0.005)
    assert _v(results_2011_09, "REPEAT", "new_item_hit") < 0.005


def test_repeat_matches_the_anchor_at_2011_06_01():
    s = split(online_retail.read_events().collect().lazy(), date(2011, 6, 1), 90)
    recs = baselines.repeat(s, s.eligible).with_columns(method=pl.lit("REPEAT"))
    population = s.eligible.with_columns(scope=pl.lit("overall"))
    table = metrics.evaluate(
        recs.lazy(), population, s.test, s.history, s.catalogue.collect().height, n_resamples=200
    )
    assert table.filter(method="REPEAT", metric="hit")["n_customers"].item() == 1617
    assert _v(table, "REPEAT", "hit") == pytest.approx(0.692, abs=0.005)


def test_random_floor_is_far_below_every_baseline(results_2011_09):
    assert _v(results_2011_09, "RANDOM", "hit") < 0.05


def test_tifu_knn_reproduces_the_anchor(results_2011_09):
    # ANCHORS.md: TIFU-KNN tuned on a validation split, 0.662; our grid picks a setting that
    # reaches 0.658 (docs/evaluation.md)
    assert _v(results_2011_09, "TIFU-KNN", "hit") == pytest.approx(0.662, abs=0.008)
    assert _v(results_2011_09, "TIFU-KNN", "new_item_hit") <= 0.008


@pytest.mark.parametrize(("cutoff", "anchor"), [(date(2011, 9, 1), 0.653), (date(2011, 6, 1), 0.678)])
def test_tifu_knn_with_the_published_setting_reproduces_the_anchor(cutoff, anchor):
    # ANCHORS.md: "TIFU-KNN with its published Ta Feng settings: 0.653 and 0.678"
    s = split(online_retail.read_events().collect().lazy(), cutoff, 90)
    ranked = tifuknn.recommend(s, s.eligible, tifuknn.PUBLISHED)
    recs = baselines._fill(s, s.eligible, ranked).with_columns(method=pl.lit("TIFU"))
    population = s.eligible.with_columns(scope=pl.lit("overall"))
    table = metrics.evaluate(recs.lazy(), population, s.test, s.history, s.catalogue.collect().height, n_resamples=50)
    assert _v(table, "TIFU", "hit") == pytest.approx(anchor, abs=0.003)
