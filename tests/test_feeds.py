"""The feeds' freshness: what the pages' "feed lags" and "recorder down" warnings read."""

from __future__ import annotations

from datetime import timedelta

import pytest
from django.utils import timezone

from heatmaps.feeds import STALE_AFTER, STREAM_UNDERCOUNT, Feed, freshness
from live.follow import follow

pytestmark = pytest.mark.django_db

MS = 1000


def _now_ms() -> int:
    return int(timezone.now().timestamp() * MS)


def test_a_rest_feed_whose_newest_row_is_older_than_ten_minutes_is_stale():
    assert timedelta(minutes=10) == STALE_AFTER
    fresh = Feed.beat("BTCUSDT", "klines:1m", "rest", last_row_ms=_now_ms() - 60 * MS)
    lagging = Feed.beat("BTCUSDT", "klines:5m", "rest", last_row_ms=_now_ms() - 11 * 60 * MS)
    assert not fresh.is_stale()
    assert lagging.is_stale()
    assert lagging.lag() > STALE_AFTER


def test_a_recorder_alive_in_a_quiet_market_is_not_stale_but_a_silent_one_is():
    quiet = Feed.beat("BTCUSDT", "forceOrder", "stream", last_row_ms=_now_ms() - 3600 * MS)
    assert not quiet.is_stale()
    later = timezone.now() + STALE_AFTER + timedelta(seconds=1)
    assert quiet.is_stale(later)  # no heartbeat for ten minutes: the recorder is down
    archive = Feed.beat("BTCUSDT", "archive", "archive", last_row_ms=_now_ms() - 86_400 * MS)
    assert not archive.is_stale(later)  # asked hourly


def test_a_feed_that_failed_or_stopped_is_stale_and_says_why():
    failed = Feed.beat("BTCUSDT", "fundingRate", "rest", error="RateLimited: 418")
    assert failed.status == Feed.Status.ERROR and failed.is_stale()
    assert failed.error == "RateLimited: 418"
    again = Feed.beat("BTCUSDT", "fundingRate", "rest", last_row_ms=_now_ms(), added=3)
    assert again.status == Feed.Status.RUNNING and again.error == "" and again.rows == 3
    stopped = Feed.beat("BTCUSDT", "forceOrder", "stream", status=Feed.Status.STOPPED)
    assert stopped.is_stale()
    assert Feed.objects.count() == 2  # one row per symbol and stream


def test_staff_see_the_feeds_in_the_admin_and_outsiders_do_not(clients):
    Feed.beat("ETHUSDT", "forceOrder", "stream", last_row_ms=_now_ms())
    listing = clients["staff"].get("/admin/heatmaps/feed/")
    assert listing.status_code == 200 and "ETHUSDT" in listing.content.decode()
    assert clients["outsider"].get("/admin/heatmaps/feed/").status_code == 302
    assert clients["trader"].get("/admin/heatmaps/feed/").status_code == 302


def test_the_follow_loop_records_a_failed_pass_on_the_feeds_and_goes_on(settings):
    settings.BINANCE_REST_URL = "http://127.0.0.1:9"  # the discard port: nothing listens
    checks = iter([False, True])
    follow(["BTCUSDT"], archive=False, stop=lambda: next(checks, True))
    feed = Feed.objects.get(symbol="BTCUSDT", stream="klines:1m")
    assert feed.status == Feed.Status.ERROR and "Connection refused" in feed.error


def test_the_every_minute_job_fails_when_no_endpoint_answers(settings):
    from heatmaps.tasks import JobFailed
    from live.follow import follow_rest

    settings.BINANCE_REST_URL = "http://127.0.0.1:9"
    with pytest.raises(JobFailed, match="no REST endpoint answered for BTCUSDT"):
        follow_rest("BTCUSDT")


def test_a_pass_that_fails_whole_marks_the_symbols_feeds_until_their_next_good_beat(
    settings, tmp_path
):
    Feed.beat("BTCUSDT", "klines:1m", "rest", last_row_ms=_now_ms())
    Feed.beat("BTCUSDT", "forceOrder", "stream", last_row_ms=_now_ms())
    (tmp_path / "file").write_text("")
    settings.DUCKDB_PATH = tmp_path / "file" / "warehouse.duckdb"  # cannot be created
    checks = iter([False, True])
    follow(["BTCUSDT"], archive=False, stop=lambda: next(checks, True))

    rest = Feed.objects.get(stream="klines:1m")
    assert rest.status == Feed.Status.ERROR and "cannot write" in rest.error
    assert Feed.objects.get(stream="forceOrder").status == Feed.Status.RUNNING
    assert Feed.beat("BTCUSDT", "klines:1m", "rest").status == Feed.Status.RUNNING


def test_freshness_names_the_lagging_feeds_and_a_recorder_that_is_down():
    assert freshness("BTCUSDT") == {
        "newest_row_at": None,
        "lagging": [],
        "recorder_down": False,
        "stream_note": None,
    }
    Feed.beat("BTCUSDT", "klines:1m", "rest", last_row_ms=_now_ms() - 60 * MS)
    Feed.beat("BTCUSDT", "klines:5m", "rest", last_row_ms=_now_ms() - 11 * 60 * MS)
    # funding settles every 8 hours: a 7-hour-old rate is the current one
    Feed.beat("BTCUSDT", "fundingRate", "rest", last_row_ms=_now_ms() - 7 * 3600 * MS)
    Feed.beat("BTCUSDT", "forceOrder", "stream", status=Feed.Status.STOPPED)
    now = freshness("BTCUSDT")
    assert now["lagging"] == ["klines:5m"]
    assert now["recorder_down"] is True and now["stream_note"] == STREAM_UNDERCOUNT
    assert timezone.now() - now["newest_row_at"] < timedelta(minutes=2)
