"""Following the market: the archive up to the last full day, then Binance's REST API up to the
current minute, every minute.

A pass, per symbol: fetch and ingest the archive's recent days (``heatmaps.tasks``: its files
supersede the REST rows of their days), then ask each REST endpoint for what came after the
symbol's newest row in its table (from any source) and write the answers in one short
transaction. A pass killed half way leaves whole transactions behind: the next one starts
from the newest row again, and an insert skips rows already there, so passes never duplicate
and never leave a gap.
"""

from __future__ import annotations

import time
from dataclasses import dataclass
from datetime import UTC, date, datetime, timedelta

import ccxt
import structlog
from django.conf import settings
from django_q.tasks import async_task

from heatmaps import tasks, warehouse
from heatmaps.binance.rest import INTERVAL_MS, BinanceRest, RateLimited
from heatmaps.feeds import Feed

log = structlog.get_logger("liqmap.follow")

DAY_MS = 86_400_000
# The archive publishes a day's files the next morning: a pass asks for the last few days
# (files already loaded are skipped), so a day's REST rows are superseded once its file is out.
ARCHIVE_EVERY_SECONDS = 3600


@dataclass(frozen=True)
class RestFeed:
    stream: str  # the Feed's name
    table: str
    interval: str | None = None
    step_ms: int = 1  # the next row after the newest is at least this much later

    def fetch(self, client: BinanceRest, symbol: str, start_ms: int, now_ms: int):
        if self.table == "klines":
            return client.klines(symbol, self.interval, start_ms, now_ms)
        if self.table == "mark_price_klines":
            return client.klines(symbol, self.interval, start_ms, now_ms, mark=True)
        if self.table == "metrics":
            return client.open_interest(symbol, start_ms, now_ms)
        if self.table == "funding_rate":
            return client.funding(symbol, start_ms, now_ms)
        return client.premium_index(symbol)


REST_FEEDS = (
    RestFeed("klines:1m", "klines", "1m", INTERVAL_MS["1m"]),
    RestFeed("klines:5m", "klines", "5m", INTERVAL_MS["5m"]),
    RestFeed("markPriceKlines:1m", "mark_price_klines", "1m", INTERVAL_MS["1m"]),
    RestFeed("openInterestHist:5m", "metrics"),
    RestFeed("fundingRate", "funding_rate"),
    RestFeed("premiumIndex", "premium_index"),
)
# what a REST request can fail with that the next pass may not (network, rate limits, 5xx)
_REST_ERRORS = (ccxt.BaseError, RateLimited)


def now_ms() -> int:
    return int(time.time() * 1000)


def follow_pass(
    symbols: list[str],
    *,
    at_ms: int | None = None,
    since: date | None = None,
    archive: bool = True,
    client: BinanceRest | None = None,
) -> dict:
    """One pass for each symbol: the archive's recent days (unless ``archive`` is off), then
    REST up to ``at_ms`` (now). ``since`` is the first day a feed with no rows starts from
    (default: FOLLOW_BACKFILL_DAYS ago). Returns rows added per symbol and feed, and errors."""
    at_ms = at_ms or now_ms()
    client = client or BinanceRest(settings.BINANCE_REST_URL)
    summary = {}
    for symbol in symbols:
        done = {"archive": _catch_up_archive(symbol, at_ms, since) if archive else None}
        done["rest"] = _catch_up_rest(client, symbol, at_ms, since)
        summary[symbol] = done
    return summary


def follow_rest(symbol: str) -> dict:
    """The every-minute django-q2 job: REST only (the daily job fetches the archive). Fails
    when no endpoint answered (the feeds say why, each)."""
    done = follow_pass([symbol], archive=False)
    errors = done[symbol]["rest"]["errors"]
    if len(errors) == len(REST_FEEDS):
        raise tasks.JobFailed(
            f"no REST endpoint answered for {symbol}: {next(iter(errors.values()))}"
        )
    if any(done[symbol]["rest"]["added"].values()):
        # the models' update queues behind it: a new bar is on the map within the minute
        done["calculate_task"] = async_task("heatmaps.tasks.calculate_update", symbol)
    return done


def follow(
    symbols: list[str],
    *,
    since: date | None = None,
    archive: bool = True,
    every_seconds: float = 60.0,
    stop=lambda: False,
) -> None:
    """Passes forever (until ``stop()``): one a minute, a few seconds after the minute closes,
    the archive once an hour, each followed by the models' update of the symbols that got
    rows (``tasks.calculate_update``). A failed pass is logged and recorded on the feeds; the
    next one tries again."""
    client = BinanceRest(settings.BINANCE_REST_URL)
    archive_at = 0.0
    while not stop():
        with_archive = archive and time.monotonic() >= archive_at
        try:
            done = follow_pass(symbols, since=since, archive=with_archive, client=client)
            if with_archive:
                archive_at = time.monotonic() + ARCHIVE_EVERY_SECONDS
        except Exception as exc:  # the loop outlives any one pass; the feeds say what failed
            log.exception("follow_pass_failed", symbols=symbols)
            Feed.failed(symbols, Feed.Source.REST, _reason(exc))
        else:
            update_models(done)
        wait = every_seconds - time.time() % every_seconds + 3
        while wait > 0 and not stop():
            time.sleep(min(wait, 1.0))
            wait -= 1.0


def update_models(done: dict) -> None:
    """Continue the models of each symbol of a pass (nothing to do is a quick "no new bar");
    a failure is logged and the next pass tries again: the feeds are fine, the models are not."""
    for symbol in done:
        try:
            tasks.calculate_update(symbol)
        except Exception:
            log.exception("calculate_update_failed", symbol=symbol)


def _catch_up_archive(symbol: str, at_ms: int, since: date | None) -> dict:
    today = _day(at_ms)
    last_full = today - timedelta(days=1)
    days = max(tasks.RECENT_DAYS, settings.FOLLOW_BACKFILL_DAYS)
    start = since or last_full - timedelta(days=days - 1)
    if start > last_full:
        return {"skipped": "no full day yet"}
    try:
        done = tasks.fetch_and_ingest(symbol, start, last_full)
    except tasks.JobFailed as exc:  # REST fills in; the next archive pass tries again
        log.warning("follow_archive_failed", symbol=symbol, error=str(exc))
        Feed.beat(symbol, "archive", Feed.Source.ARCHIVE, error=str(exc))
        return {"error": str(exc)}
    with warehouse.connect(symbol) as con:
        newest = warehouse.newest_time(con, "klines", symbol, "5m", source="archive")
    Feed.beat(symbol, "archive", Feed.Source.ARCHIVE, last_row_ms=newest)
    return {
        "downloaded": done["fetch"]["downloaded"],
        "missing": len(done["fetch"]["missing"]),
        "superseded": {
            name: counts["superseded"]
            for name, counts in done["ingest"]["datasets"].items()
            if counts.get("superseded")
        },
    }


def _catch_up_rest(client: BinanceRest, symbol: str, at_ms: int, since: date | None) -> dict:
    first = _day_ms(since) if since else at_ms - settings.FOLLOW_BACKFILL_DAYS * DAY_MS
    with warehouse.connect(symbol) as con:  # short: read where each feed stands
        newest = {
            f.stream: warehouse.newest_time(con, f.table, symbol, f.interval) for f in REST_FEEDS
        }
    answers, errors, starts = {}, {}, {}
    for feed in REST_FEEDS:  # the network, without the writer lock
        start = first if newest[feed.stream] is None else newest[feed.stream] + feed.step_ms
        starts[feed.stream] = start
        try:
            answers[feed] = feed.fetch(client, symbol, start, at_ms)
        except _REST_ERRORS as exc:
            errors[feed.stream] = _reason(exc)
            log.warning("follow_rest_failed", symbol=symbol, feed=feed.stream, error=_reason(exc))
    added = {}
    with warehouse.connect(symbol) as con:
        with warehouse.transaction(con):
            for feed, rows in answers.items():
                added[feed.stream] = warehouse.insert_rows(con, feed.table, rows, "rest")
            for feed in REST_FEEDS:
                newest[feed.stream] = warehouse.newest_time(con, feed.table, symbol, feed.interval)
        if any(added.values()):
            changed = min(starts[stream] for stream, n in added.items() if n)
            warehouse.publish(con, symbol, since=changed)
    for feed in REST_FEEDS:
        Feed.beat(
            symbol,
            feed.stream,
            Feed.Source.REST,
            last_row_ms=newest[feed.stream],
            added=added.get(feed.stream, 0),
            error=errors.get(feed.stream, ""),
        )
    log.info("follow_rest_done", symbol=symbol, added=added, errors=len(errors))
    return {"added": added, "errors": errors}


def _reason(exc: BaseException) -> str:
    """An error on one line with its cause: ccxt says which request failed, the cause why
    (``Connection refused``, a timeout...)."""
    text = f"{type(exc).__name__}: {exc}"
    return f"{text} ({exc.__cause__})" if exc.__cause__ is not None else text


def _day(ms: int) -> date:
    return datetime.fromtimestamp(ms / 1000, UTC).date()


def _day_ms(day: date) -> int:
    return (day - date(1970, 1, 1)).days * DAY_MS
