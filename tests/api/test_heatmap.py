"""GET /api/v1/liquidations/heatmap: matrices, resolution, filters, cache."""

import json

import numpy as np
import pytest

pytestmark = pytest.mark.django_db
URL = "/api/v1/liquidations/heatmap"


def get(client, **query):
    response = client.get(URL, query)
    assert response.status_code == 200, response.content
    return response.json()


def test_it_answers_matrices_of_prices_by_times_with_candles(served, clients):
    body = get(clients["bot"], timeframe="7d", model="ensemble")

    times, prices = body["times"], body["prices"]
    assert len(times) == 169 and body["metadata"]["time_bucket_seconds"] == 3600
    assert prices == sorted(prices) and body["metadata"]["price_step"] == 100.0
    for side in ("long", "short"):
        matrix = np.array(body[side])
        assert matrix.shape == (len(prices), len(times)) and (matrix >= 0).all()
    longs, shorts = np.array(body["long"])[:, -1], np.array(body["short"])[:, -1]
    price = body["current_price"]
    # in the last column, longs sit below the price and shorts above it
    assert longs[np.array(prices) > price].sum() < 0.01 * longs.sum()
    assert shorts[np.array(prices) + 100 < price].sum() < 0.01 * shorts.sum()
    assert body["candles"]["time"] == times[: len(body["candles"]["time"])]
    assert len(body["candles"]["close"]) >= len(times) - 1
    assert body["metadata"]["total_volume"] == pytest.approx(longs.sum() + shorts.sum(), rel=1e-3)
    assert body["times"][-1] == body["metadata"]["as_of"] == "2024-01-11T00:00:00Z"


def test_a_long_view_stays_within_500_columns_400_rows_and_well_under_1_mb(served, clients):
    for timeframe in ("30d", "90d", "1y"):
        response = clients["bot"].get(URL, {"timeframe": timeframe})
        body = response.json()
        assert len(body["times"]) <= 500 and len(body["prices"]) <= 400
        assert len(response.content) < 600_000, (timeframe, len(response.content))


def test_zooming_in_gets_finer_buckets(served, clients):
    wide = get(clients["trader"], timeframe="30d")
    narrow = get(
        clients["trader"],
        start="2024-01-09T00:00:00Z",
        end="2024-01-09T12:00:00Z",
        price_min=44000,
        price_max=48000,
    )
    assert narrow["metadata"]["time_bucket_seconds"] <= wide["metadata"]["time_bucket_seconds"]
    assert narrow["times"][0] == "2024-01-09T00:00:00Z" and len(narrow["times"]) == 13
    assert narrow["prices"][0] == 44000 and narrow["prices"][-1] == 47900


def test_the_leverage_filter_keeps_only_those_tiers_on_wider_buckets(served, clients):
    every = get(clients["bot"], timeframe="1d", price_step=500)
    high = get(clients["bot"], timeframe="1d", leverage="50,75,100,125")
    low = get(clients["bot"], timeframe="1d", leverage="2,3,5,10,20,25")
    assert high["metadata"]["price_step"] == low["metadata"]["price_step"] == 500
    total, high_sum, low_sum = (np.array(b["long"]).sum() for b in (every, high, low))
    assert 0 < high_sum < total and 0 < low_sum < total
    assert high_sum + low_sum == pytest.approx(total, rel=0.01)
    refused = clients["bot"].get(URL, {"leverage": "10", "price_step": 100})
    assert refused.status_code == 400 and "price_step" in refused.json()


def test_a_repeated_request_is_served_from_the_cache_until_new_data_is_published(
    served, clients, monkeypatch
):
    from heatmaps import warehouse
    from heatmaps.api import payloads

    built = []
    real_heatmap = payloads.heatmap
    monkeypatch.setattr(payloads, "heatmap", lambda **q: built.append(q) or real_heatmap(**q))
    first = clients["bot"].get(URL, {"timeframe": "3d"}).content
    second = clients["trader"].get(URL, {"timeframe": "3d"}).content
    assert first == second and len(built) == 1  # the second came from the cache
    original = json.loads(first)["metadata"]["confidence"]
    with warehouse.connect("BTCUSDT") as con:  # the writer publishes a new snapshot
        con.execute("UPDATE model_runs SET confidence = 0.42 WHERE model = 'ensemble'")
        warehouse.publish(con, "BTCUSDT")
    try:
        third = json.loads(clients["bot"].get(URL, {"timeframe": "3d"}).content)
        assert third["metadata"]["confidence"] == 0.42 and len(built) == 2
    finally:
        with warehouse.connect("BTCUSDT") as con:
            con.execute("UPDATE model_runs SET confidence = ? WHERE model = 'ensemble'", [original])
            warehouse.publish(con, "BTCUSDT")


def test_an_explicit_price_step_cannot_exceed_the_cell_budget(served, clients):
    response = clients["bot"].get(
        URL, {"timeframe": "30d", "price_step": 100, "price_min": 10000, "price_max": 90000}
    )
    assert response.status_code == 400
    assert "cells" in response.json()["price_step"][0]


def test_12h_is_shown_around_its_candles_with_the_levels_beyond_still_there(served, clients):
    body = get(clients["bot"], timeframe="12h")
    meta, candles = body["metadata"], body["candles"]
    low, high = min(candles["low"]), max(candles["high"])
    assert meta["view_price_min"] < low and high < meta["view_price_max"]
    # the candles fill at least a third of the view, not a thin band in $25k
    assert (high - low) / (meta["view_price_max"] - meta["view_price_min"]) > 1 / 3
    assert meta["view_price_max"] - meta["view_price_min"] <= 2 * (high - low) + 1
    assert (
        body["prices"][0] < meta["view_price_min"] and meta["view_price_max"] < body["prices"][-1]
    )


def test_each_side_has_its_own_figures_now(served, clients):
    meta = get(clients["bot"], timeframe="7d")["metadata"]
    longs, shorts = meta["by_side"]["long"], meta["by_side"]["short"]
    assert longs["total_volume"] + shorts["total_volume"] == pytest.approx(
        meta["total_volume"], rel=1e-3
    )
    assert longs["highest_density_price"] < shorts["highest_density_price"]
    assert meta["stored_price_step"] == 100.0 and meta["confidence_band"] in ("medium", "high")


def test_a_window_longer_than_the_data_says_what_the_data_covers(served, clients):
    month = get(clients["bot"], timeframe="30d")["metadata"]
    assert not month["covers_window"]
    assert (month["data_start"], month["data_end"]) == (
        "2024-01-01T01:00:00Z",
        "2024-01-11T00:00:00Z",
    )
    assert get(clients["bot"], timeframe="7d")["metadata"]["covers_window"]


def test_zooming_a_90d_view_comes_back_at_the_hourly_snapshots(served, clients):
    wide = get(clients["bot"], timeframe="90d")
    zoomed = get(
        clients["bot"],
        start="2024-01-08T00:00:00Z",
        end="2024-01-10T00:00:00Z",
        price_min=45_000,
        price_max=47_000,
    )
    assert wide["metadata"]["time_bucket_seconds"] > 3600
    assert zoomed["metadata"]["time_bucket_seconds"] == 3600
    assert zoomed["metadata"]["price_step"] == zoomed["metadata"]["stored_price_step"] == 100


@pytest.mark.parametrize("timeframe", ["12h", "7d"])
def test_the_densest_level_is_one_the_chart_shows(served, clients, timeframe):
    meta = get(clients["bot"], timeframe=timeframe)["metadata"]
    low, high = meta["view_price_min"] - meta["price_step"], meta["view_price_max"]
    for figures in (meta, meta["by_side"]["long"], meta["by_side"]["short"]):
        assert low <= figures["highest_density_price"] <= high, (timeframe, figures, low, high)
