"""The signal rules on hand-made levels."""

import pandas as pd
import pytest

from models_engine.signals import compact_usd, nearest_cluster, trading_signal


def levels(buckets_and_volumes):
    return pd.DataFrame(
        {
            "price_bucket": [b for b, _ in buckets_and_volumes],
            "volume": [v for _, v in buckets_and_volumes],
        }
    )


# 30 buckets: the top decile is the three large ones, at 60k, 80k and 99k
BOOK = levels(
    [(70_000 + 1_000 * i, 1.0) for i in range(27)]
    + [(60_000, 30.0), (80_500, 40.0), (99_000, 50.0)]
)


def test_the_nearest_top_decile_bucket_is_the_cluster():
    cluster, distance, notional = nearest_cluster(BOOK, 100_000, step=100)
    assert cluster == 99_000 and notional == 50.0
    assert distance == pytest.approx((100_000 - 99_050) / 100_000)


def test_a_notional_floor_passes_over_smaller_clusters_to_a_farther_larger_one():
    cluster, _, notional = nearest_cluster(BOOK, 100_000, step=100, min_notional=45.0)
    assert (cluster, notional) == (99_000, 50.0)
    cluster, distance, notional = nearest_cluster(BOOK, 81_000, step=100, min_notional=45.0)
    assert (cluster, notional) == (99_000, 50.0)  # not the nearer 40 at 80.5k
    assert distance == pytest.approx((99_050 - 81_000) / 81_000)
    # the floor picks among the book's top decile, it never makes a bucket a cluster
    assert nearest_cluster(BOOK, 70_000, step=100, min_notional=1.0)[0] == 60_000
    assert nearest_cluster(BOOK, 100_000, step=100, min_notional=51.0) == (None, None, None)


def test_the_distance_is_to_the_buckets_centre_however_far_apart_the_buckets_are():
    sparse = levels([(40_000, 1.0)] * 9 + [(49_000, 50.0)])
    cluster, distance, _ = nearest_cluster(sparse, 49_050, step=100)
    assert cluster == 49_000 and distance == pytest.approx(0.0)


def test_wait_comes_first_when_confidence_is_low():
    signal = trading_signal(BOOK, 99_500, 0.4, 1e9, 0.0, 1e9, step=100)
    assert signal["action"] == "WAIT" and "Low model confidence" in signal["reason"]


def test_a_cascade_needs_more_than_predicted_and_more_than_usual():
    assert (
        trading_signal(BOOK, 120_000, 0.9, 3e6, 1e6, 24e6, step=100)["action"]
        == "REVERSAL_OPPORTUNITY"
    )
    # the same hour in a day that was already this busy is no cascade
    assert trading_signal(BOOK, 120_000, 0.9, 3e6, 1e6, 72e6, step=100)["action"] == "CLEAR"
    # nor is an hour the model expected
    assert trading_signal(BOOK, 120_000, 0.9, 3e6, 2.5e6, 24e6, step=100)["action"] == "CLEAR"


def test_avoid_within_2_percent_of_a_cluster_and_clear_beyond():
    near = trading_signal(BOOK, 100_500, 0.9, 0.0, 0.0, 0.0, step=100)
    assert near["action"] == "AVOID" and near["reason"].startswith("Liquidation cluster at $99,000")
    assert trading_signal(BOOK, 102_000, 0.9, 0.0, 0.0, 0.0, step=100)["action"] == "CLEAR"


def test_no_levels_means_clear_without_a_cluster():
    empty = levels([])
    signal = trading_signal(empty, 100_000, 0.9, 0.0, 0.0, 0.0, step=100)
    assert signal["action"] == "CLEAR" and signal["cluster_price"] is None


def test_a_cluster_within_2_percent_is_ahead_whatever_the_action():
    waiting = trading_signal(BOOK, 99_500, 0.4, 0.0, 0.0, 0.0, step=100)
    assert waiting["action"] == "WAIT" and waiting["cluster_ahead"] is True
    far = trading_signal(BOOK, 120_000, 0.9, 0.0, 0.0, 0.0, step=100)
    assert far["action"] == "CLEAR" and far["cluster_ahead"] is False
    assert far["cluster_within_pct"] == 2


def test_no_levels_no_cluster_ahead():
    signal = trading_signal(levels([]), 50_000, 0.9, 0.0, 0.0, 0.0, step=100)
    assert signal["cluster_price"] is None and signal["cluster_ahead"] is False


@pytest.mark.parametrize(
    ("value", "text"),
    [
        (55_667_620, "$55.7M"),
        (830_000, "$830k"),
        (1_000_000, "$1M"),
        (420, "$420"),
        (2.5e9, "$2.5B"),
    ],
)
def test_money_in_the_reason_reads_compact(value, text):
    assert compact_usd(value) == text
