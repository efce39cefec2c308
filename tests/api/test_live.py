"""What a live page and a bot need: only the new columns, and how fresh every answer is."""

from __future__ import annotations

import pytest

pytestmark = pytest.mark.django_db

HEATMAP = "/api/v1/liquidations/heatmap"


def test_since_gives_the_columns_after_it_on_the_same_grid(served, clients):
    full = clients["bot"].get(HEATMAP, {"timeframe": "1d"}).json()
    cut = full["times"][-4]
    newer = clients["bot"].get(HEATMAP, {"timeframe": "1d", "since": cut}).json()

    assert newer["times"] == full["times"][-3:]
    assert newer["prices"] == full["prices"]
    assert [row for row in newer["long"]] == [row[-3:] for row in full["long"]]
    assert [row for row in newer["short"]] == [row[-3:] for row in full["short"]]
    assert newer["metadata"]["window_start"] == full["times"][0]
    caught_up = clients["bot"].get(HEATMAP, {"timeframe": "1d", "since": full["times"][-1]})
    assert caught_up.json()["times"] == []


def test_every_answer_says_how_fresh_it_is(served, clients, settings):
    settings.SAMPLE_DATA = True  # the served test warehouse keeps no ingest history
    signal = clients["bot"].get("/api/v1/trading/signals").json()
    levels = clients["bot"].get("/api/v1/liquidations/levels").json()
    heat = clients["bot"].get(HEATMAP).json()["metadata"]

    for fresh in (signal["freshness"], levels["freshness"]):
        # the sample's last candle closes at 2024-01-11 00:00: years old, but history, not a feed
        assert fresh["data_end"] == "2024-01-11T00:00:00Z" == heat["data_reaches"]
        assert fresh["age_seconds"] > 365 * 86400 and fresh["live"] is False
        assert fresh["stale"] is False and fresh["published_at"] == heat["published_at"]

    settings.SAMPLE_DATA = False  # the same data from a feed that stopped: stale
    fresh = clients["bot"].get("/api/v1/trading/signals").json()["freshness"]
    assert fresh["live"] is True and fresh["stale"] is True
    assert fresh["stale_after_seconds"] == settings.FEED_STALE_SECONDS


def test_the_answers_name_a_lagging_feed_and_a_recorder_that_is_down(served, clients, settings):
    from datetime import timedelta

    from django.utils import timezone

    from heatmaps.feeds import Feed

    settings.SAMPLE_DATA = False
    long_ago = timezone.now() - timedelta(hours=1)
    Feed.beat("BTCUSDT", "klines:1m", Feed.Source.REST, last_row_ms=0)
    Feed.beat("BTCUSDT", "forceOrder", Feed.Source.STREAM)
    fresh = clients["bot"].get("/api/v1/trading/signals").json()["freshness"]
    assert fresh["lagging_feeds"] == ["klines:1m"] and fresh["stale"] is True
    assert fresh["recorder_down"] is False and "one liquidation" in fresh["stream_note"]

    Feed.objects.filter(stream="forceOrder").update(heartbeat_at=long_ago)
    fresh = clients["bot"].get("/api/v1/liquidations/levels").json()["freshness"]
    assert fresh["recorder_down"] is True
