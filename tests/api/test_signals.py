"""GET /api/v1/trading/signals on windows of the sample where each answer is due."""

from datetime import date

import pytest

from ..conftest import build_served_warehouse

pytestmark = pytest.mark.django_db


@pytest.fixture
def served_until(tmp_path, settings):
    def build(end, calibrate=True):
        settings.DUCKDB_PATH, settings.SERVING_PATH = build_served_warehouse(
            tmp_path, end=end, calibrate=calibrate, symbols=("BTCUSDT",)
        )
        settings.WAREHOUSE_RETRY_DELAYS = [0.01]

    return build


def test_avoid_names_a_cluster_within_2_percent(served_until, clients):
    served_until(date(2024, 1, 5))  # the last data: 2024-01-06 00:00
    body = clients["bot"].get("/api/v1/trading/signals").json()
    assert body["action"] == "AVOID"
    cluster, distance = body["cluster_price"], body["distance_pct"]
    assert cluster % 100 == 0 and 0 < distance <= 2  # a $100 bucket
    assert body["reason"] == f"Liquidation cluster at ${cluster:,.0f} ({distance:.2f}% away)"
    assert body["cluster_ahead"] is True and body["cluster_within_pct"] == 2
    assert body["as_of"] == "2024-01-06T00:00:00Z"


def test_clear_when_every_cluster_is_farther_than_2_percent(served_until, clients):
    served_until(date(2024, 1, 9))
    body = clients["bot"].get("/api/v1/trading/signals").json()
    assert body["action"] == "CLEAR" and body["distance_pct"] > 2
    assert body["cluster_ahead"] is False


def test_reversal_when_the_last_hour_liquidated_far_more_than_predicted(served_until, clients):
    # calibrated, the models foresee the sample's last-hour cascade; the prior falls far short
    served_until(date(2024, 1, 10), calibrate=False)
    body = clients["bot"].get("/api/v1/trading/signals").json()
    assert body["action"] == "REVERSAL_OPPORTUNITY"
    # the exact figure for bots, the compact one in the words a trader reads
    assert round(body["realized_last_hour"]) == 55_667_620
    assert body["reason"].startswith("Liquidation cascade: $55.7M liquidated")
    assert body["predicted_last_hour"] < body["realized_last_hour"] / 1.5


def test_wait_and_a_warning_when_the_window_is_too_short_to_trust(served_until, clients):
    served_until(date(2024, 1, 1))  # one day of data: positions opened before it are unknown
    signal = clients["bot"].get("/api/v1/trading/signals").json()
    heatmap = clients["bot"].get("/api/v1/liquidations/heatmap", {"timeframe": "1d"}).json()

    assert signal["action"] == "WAIT" and signal["confidence"] < 0.5
    assert signal["reason"].startswith("Low model confidence")
    assert any("a window of 1.0 days" in w for w in heatmap["metadata"]["warnings"])


def test_compare_names_the_disagreement_limit_and_each_models_confidence_band(served, clients):
    body = clients["bot"].get("/api/v1/liquidations/compare-models").json()
    assert body["disagreement_limit_pct"] == 5
    bands = {m["name"]: m["confidence_band"] for m in body["models"]}
    assert bands["trade_clusters"] == "medium"  # 68 %
    assert set(bands.values()) <= {"low", "medium", "high"}
