"""Following the market against loopback servers: the archive (the sample's first days) and
Binance's REST API (the sample's every day), with the test's "now" at the sample's end."""

from __future__ import annotations

import time
from datetime import UTC, date, datetime

import pytest
from django.core.management import call_command

from heatmaps import warehouse
from heatmaps.binance.rest import BinanceRest
from heatmaps.feeds import Feed
from live import follow

from .binance_fakes import DAYS, END
from .conftest import publish_days

pytestmark = pytest.mark.django_db

NOON_10 = END - 12 * 3600 * 1000
SINCE = date(2024, 1, 1)


def _counts(table: str, interval: str | None = None) -> dict[str, int]:
    with warehouse.connect("BTCUSDT") as con:
        where = "symbol = 'BTCUSDT'" + (f" AND interval = '{interval}'" if interval else "")
        time_col = warehouse.LIVE_TABLES[table].time
        rows = con.execute(
            f"SELECT source, count(*), count(DISTINCT {time_col}) FROM {table} WHERE {where} "
            "GROUP BY 1"
        ).fetchall()
        distinct = con.execute(
            f"SELECT count(DISTINCT {time_col}) FROM {table} WHERE {where}"
        ).fetchone()[0]
    counts = {source: n for source, n, _ in rows}
    assert sum(counts.values()) == distinct, f"{table} holds a time twice: {rows}"
    return counts


def test_a_pass_catches_up_from_the_archive_then_rest_to_now(market):
    fake, _, client = market
    summary = follow.follow_pass(["BTCUSDT"], at_ms=END, since=SINCE, client=client)

    assert summary["BTCUSDT"]["rest"]["errors"] == {}
    assert _counts("klines", "5m") == {"archive": 8 * 288, "rest": 2 * 288}
    assert _counts("klines", "1m") == {"rest": 10 * 1440}  # the archive fetch skips 1m candles
    assert _counts("mark_price_klines", "1m") == {"archive": 8 * 1440, "rest": 2 * 1440}
    assert _counts("metrics") == {"archive": 8 * 288, "rest": 2 * 288}
    assert _counts("funding_rate") == {"archive": 93}  # the monthly file has the whole month
    assert _counts("premium_index") == {"rest": 1}
    with warehouse.connect("BTCUSDT") as con:
        ratios = con.execute(
            "SELECT count(*), count(count_long_short_ratio), min(count_long_short_ratio) "
            "FROM metrics WHERE source = 'rest'"
        ).fetchone()
    assert ratios[0] == ratios[1] == 2 * 288 and ratios[2] > 0
    with warehouse.connect("BTCUSDT") as con:
        newest = warehouse.newest_time(con, "klines", "BTCUSDT", "1m")
    assert newest == END - 60_000  # the last closed minute
    feeds = {f.stream: f for f in Feed.objects.filter(symbol="BTCUSDT")}
    assert feeds["klines:1m"].rows == 14400 and feeds["klines:1m"].error == ""
    assert feeds["klines:5m"].last_row_at == datetime(2024, 1, 10, 23, 55, tzinfo=UTC)
    assert feeds["archive"].last_row_at == datetime(2024, 1, 8, 23, 55, tzinfo=UTC)


def test_a_second_pass_resumes_from_the_newest_row_and_adds_only_what_is_new(market):
    fake, _, client = market
    fake.now_ms = NOON_10
    follow.follow_pass(["BTCUSDT"], at_ms=NOON_10, since=SINCE, client=client)
    assert _counts("klines", "5m") == {"archive": 8 * 288, "rest": 288 + 144}

    fake.now_ms, fake.requests = END, []
    again = follow.follow_pass(["BTCUSDT"], at_ms=END, since=SINCE, archive=False, client=client)

    firsts = {}
    for path, params in fake.requests:
        firsts.setdefault((path, params.get("interval")), int(params.get("startTime", 0)))
    assert firsts[("/fapi/v1/klines", "5m")] == NOON_10
    assert firsts[("/fapi/v1/klines", "1m")] == NOON_10
    assert again["BTCUSDT"]["rest"]["added"]["klines:5m"] == 144
    assert _counts("klines", "5m") == {"archive": 8 * 288, "rest": 2 * 288}
    assert _counts("klines", "1m") == {"rest": 10 * 1440}


def test_the_archive_file_of_a_day_supersedes_its_rest_rows(market):
    fake, served_root, client = market
    follow.follow_pass(["BTCUSDT"], at_ms=END, since=SINCE, client=client)

    publish_days(served_root, [DAYS[8]])  # the archive publishes the 9th
    summary = follow.follow_pass(["BTCUSDT"], at_ms=END, since=SINCE, client=client)

    superseded = summary["BTCUSDT"]["archive"]["superseded"]
    assert superseded == {"klines": 288, "markPriceKlines": 1440, "metrics": 288}

    assert _counts("klines", "5m") == {"archive": 9 * 288, "rest": 288}
    assert _counts("mark_price_klines", "1m") == {"archive": 9 * 1440, "rest": 1440}
    assert _counts("metrics") == {"archive": 9 * 288, "rest": 288}
    assert _counts("klines", "1m") == {"rest": 10 * 1440}  # no 1m archive file: REST stays

    follow.follow_pass(["BTCUSDT"], at_ms=END, since=SINCE, client=client)  # idempotent
    assert _counts("klines", "5m") == {"archive": 9 * 288, "rest": 288}


def test_duplicated_overlapping_and_out_of_order_answers_add_each_row_once(market):
    fake, _, client = market
    fake.messy = True
    follow.follow_pass(["BTCUSDT"], at_ms=END, since=SINCE, client=client)
    follow.follow_pass(["BTCUSDT"], at_ms=END, since=SINCE, archive=False, client=client)

    assert _counts("klines", "5m") == {"archive": 8 * 288, "rest": 2 * 288}
    assert _counts("klines", "1m") == {"rest": 10 * 1440}
    assert _counts("metrics") == {"archive": 8 * 288, "rest": 2 * 288}


def test_a_429_is_waited_out_for_as_long_as_retry_after_says(market, settings):
    fake, _, client = market
    fake.fail_next = [(429, {"Retry-After": "1"})]
    started = time.monotonic()
    summary = follow.follow_pass(
        ["BTCUSDT"], at_ms=END, since=date(2024, 1, 10), archive=False, client=client
    )

    assert time.monotonic() - started >= 1.0
    assert summary["BTCUSDT"]["rest"]["errors"] == {}
    assert _counts("klines", "1m") == {"rest": 1440}
    # the refused request was asked again, with the same parameters
    assert fake.requests[0] == fake.requests[1]


def test_a_418_ban_is_waited_out_and_a_client_that_stays_banned_gives_up(market, settings):
    fake, _, client = market
    waits = []
    client = BinanceRest(settings.BINANCE_REST_URL, retries=2, sleep=waits.append, throttle=False)
    fake.fail_next = [(418, {"Retry-After": "7"})] * 3
    summary = follow.follow_pass(["BTCUSDT"], at_ms=END, archive=False, client=client)

    assert waits[:2] == [7.0, 7.0]
    assert "still rate limited" in summary["BTCUSDT"]["rest"]["errors"]["klines:1m"]
    feed = Feed.objects.get(symbol="BTCUSDT", stream="klines:1m")
    assert feed.status == Feed.Status.ERROR and "rate limited" in feed.error


def test_the_follow_command_makes_one_pass_with_once(market, capsys):
    fake, _, client = market
    fake.now_ms = int(time.time() * 1000)  # the command's now is the clock's: nothing newer
    call_command("follow", "--symbols", "btcusdt", "--once", "--rest-only", "--since", "2024-01-10")
    out = capsys.readouterr().out
    assert '"klines:5m"' in out
    assert _counts("klines", "5m") == {"rest": 288}


@pytest.mark.slow
def test_a_follow_killed_mid_pass_is_completed_by_the_next_one(market, tmp_path, settings):
    """SIGKILL wherever the pass is (downloading, loading a file, asking REST): the rerun ends
    with every row once, as a pass never killed would."""
    import os
    import signal

    from .test_ingest_killed import manage

    env = {
        **os.environ,
        "DUCKDB_PATH": str(settings.DUCKDB_PATH),
        "SERVING_PATH": str(settings.SERVING_PATH),
        "BINANCE_BASE_URL": settings.BINANCE_BASE_URL,
        "BINANCE_DATA_PATH": str(settings.BINANCE_DATA_PATH),
        "BINANCE_REST_URL": settings.BINANCE_REST_URL,
        "DATABASE_URL": f"sqlite:///{tmp_path / 'db.sqlite3'}",
    }
    args = ("follow", "--once", "--since", "2024-01-01", "--at", "2024-01-11T00:00")
    assert manage(env, "migrate", "-v0").wait(timeout=120) == 0
    killed = manage(env, *args)
    time.sleep(3)
    killed.send_signal(signal.SIGKILL)
    killed.communicate(timeout=30)
    rerun = manage(env, *args)
    out, err = rerun.communicate(timeout=300)
    assert rerun.returncode == 0, err

    assert _counts("klines", "5m") == {"archive": 8 * 288, "rest": 2 * 288}
    assert _counts("klines", "1m") == {"rest": 10 * 1440}
    assert _counts("mark_price_klines", "1m") == {"archive": 8 * 1440, "rest": 2 * 1440}
    assert _counts("metrics") == {"archive": 8 * 288, "rest": 2 * 288}
