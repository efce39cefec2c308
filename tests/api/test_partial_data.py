"""The API on a warehouse where not everything is there: a model never calculated, a symbol
with candles but no open interest."""

from datetime import date

import pytest

from heatmaps import tasks

from ..conftest import SAMPLE

pytestmark = pytest.mark.django_db


@pytest.fixture
def only_candles(warehouse_path, settings, tmp_path):
    settings.SERVING_PATH = tmp_path / "serving"
    settings.WAREHOUSE_RETRY_DELAYS = [0.01]
    tasks.ingest(
        "BTCUSDT",
        date(2024, 1, 1),
        date(2024, 1, 3),
        source=SAMPLE,
        datasets="klines:5m,liquidationSnapshot",
    )
    tasks.calculate("BTCUSDT", "binance_standard")  # needs open interest: an empty result


def test_a_model_without_inputs_answers_empty_not_500(only_candles, clients):
    for url in (
        "/api/v1/liquidations/levels?model=binance_standard",
        "/api/v1/trading/signals?model=binance_standard",
        "/api/v1/liquidations/compare-models",
        "/api/v1/liquidations/heatmap?model=binance_standard&leverage=10",
    ):
        response = clients["bot"].get(url)
        assert response.status_code == 200, (url, response.content)
    heatmap = clients["bot"].get("/api/v1/liquidations/heatmap?model=binance_standard").json()
    assert heatmap["current_price"] is None and heatmap["long"] == []
    assert "no metrics" in heatmap["metadata"]["warnings"]


def test_a_model_never_calculated_says_so(only_candles, clients):
    body = clients["bot"].get("/api/v1/liquidations/heatmap?model=ensemble&leverage=10").json()
    assert body["metadata"]["warnings"] == ["ensemble has not been calculated for BTCUSDT"]


def test_history_defaults_to_the_day_before_the_last_liquidation(only_candles, clients):
    body = clients["bot"].get("/api/v1/liquidations/history?limit=50").json()
    assert body["end"] == "2024-01-03T23:03:14Z" and body["count"] == 50  # the last one
    assert body["truncated"] is True
    times = [e["time"] for e in body["events"]]
    assert times == sorted(times) and times[-1] <= body["end"]
