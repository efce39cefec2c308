"""The feeds that keep the warehouse current, as the processes feeding them last reported.

``follow`` (REST, one feed per symbol and endpoint) and ``record_liquidations`` (the
``forceOrder`` stream, one feed per symbol) update their rows as they go; the pages and the API
read them to say how fresh the data is and to warn when a feed lags or a recorder is down.
"""

from __future__ import annotations

import os
import socket
from datetime import UTC, datetime, timedelta

from django.conf import settings
from django.db import models
from django.utils import timezone

from heatmaps.binance.stream import STREAM_UNDERCOUNT

# A feed whose newest row or heartbeat is older than this is stale: the one threshold, the
# FEED_STALE_SECONDS setting the API's freshness uses too (600 s unless configured).
STALE_AFTER = timedelta(seconds=settings.FEED_STALE_SECONDS)

# Feeds whose rows come this far apart by nature: their newest row may be that much older.
# Funding settles every 8 hours on most symbols (4 h or 1 h on some: 8 h is the bound).
ROW_PERIOD = {"fundingRate": timedelta(hours=8)}
# Feeds whose process beats this far apart by design (follow asks the archive hourly).
BEAT_PERIOD = {"archive": timedelta(hours=1)}


class Feed(models.Model):
    """One stream of rows into the warehouse: a symbol's endpoint (``klines:1m``,
    ``openInterestHist:5m``, ``forceOrder``...) and who feeds it."""

    class Source(models.TextChoices):
        ARCHIVE = "archive"
        REST = "rest"
        STREAM = "stream"

    class Status(models.TextChoices):
        RUNNING = "running"
        ERROR = "error"
        STOPPED = "stopped"

    symbol = models.CharField(max_length=20)
    stream = models.CharField(max_length=40, help_text="e.g. klines:1m, forceOrder")
    source = models.CharField(max_length=8, choices=Source.choices)
    last_row_at = models.DateTimeField(
        null=True, blank=True, help_text="time of the newest row this feed has in the warehouse"
    )
    heartbeat_at = models.DateTimeField(
        null=True, blank=True, help_text="when its process last said it was alive"
    )
    rows = models.PositiveBigIntegerField(default=0, help_text="rows it added, in all")
    status = models.CharField(max_length=8, choices=Status.choices, default=Status.RUNNING)
    error = models.TextField(blank=True)
    host = models.CharField(max_length=255, blank=True)
    pid = models.PositiveIntegerField(null=True, blank=True)

    class Meta:
        ordering = ["symbol", "stream"]
        constraints = [models.UniqueConstraint("symbol", "stream", name="one_feed_per_stream")]

    def __str__(self) -> str:
        return f"{self.symbol} {self.stream} ({self.source})"

    @classmethod
    def beat(
        cls,
        symbol: str,
        stream: str,
        source: str,
        *,
        last_row_ms: int | None = None,
        added: int = 0,
        error: str = "",
        status: str | None = None,
    ) -> Feed:
        """Record that this process fed ``stream`` just now: its newest row (epoch ms, when
        known), rows added, and the error of this attempt ("" when it went well)."""
        feed, _ = cls.objects.get_or_create(
            symbol=symbol, stream=stream, defaults={"source": source}
        )
        feed.source = source
        feed.heartbeat_at = timezone.now()
        if last_row_ms is not None:
            feed.last_row_at = datetime.fromtimestamp(last_row_ms / 1000, UTC)
        feed.error = error[:2000]
        feed.status = status or (cls.Status.ERROR if error else cls.Status.RUNNING)
        feed.host, feed.pid = socket.gethostname(), os.getpid()
        # two processes may feed one stream (follow and the schedule): rows are added in SQL
        feed.save(
            update_fields=[
                "source",
                "last_row_at",
                "heartbeat_at",
                "status",
                "error",
                "host",
                "pid",
            ]
        )
        if added:
            cls.objects.filter(pk=feed.pk).update(rows=models.F("rows") + added)
            feed.refresh_from_db(fields=["rows"])
        return feed

    @classmethod
    def failed(cls, symbols: list[str], source: str, error: str) -> int:
        """Mark the symbols' feeds of ``source`` as failing with ``error`` (a whole pass failed:
        the warehouse was busy, say); their next good beat clears it."""
        return cls.objects.filter(symbol__in=symbols, source=source).update(
            status=cls.Status.ERROR, error=error[:2000], heartbeat_at=timezone.now()
        )

    def lag(self, now: datetime | None = None) -> timedelta | None:
        """How far the newest row is behind ``now``; None before the first row."""
        if self.last_row_at is None:
            return None
        return (now or timezone.now()) - self.last_row_at

    def is_stale(self, now: datetime | None = None) -> bool:
        """No heartbeat, or no new row, for longer than STALE_AFTER (the recorder of a quiet
        market has no new rows: its heartbeat says it is alive)."""
        now = now or timezone.now()
        if self.status != self.Status.RUNNING or self.heartbeat_at is None:
            return True
        if now - self.heartbeat_at > STALE_AFTER + BEAT_PERIOD.get(self.stream, timedelta(0)):
            return True
        lag = self.lag(now)
        allowed = STALE_AFTER + ROW_PERIOD.get(self.stream, timedelta(0))
        return self.source == self.Source.REST and (lag is None or lag > allowed)


def freshness(symbol: str, now: datetime | None = None) -> dict:
    """What the API's metadata and the pages' warnings need about a symbol's feeds: the
    newest REST row, the REST feeds that lag, whether the liquidation recorder is down, and
    the stream's undercount when liquidations come from it."""
    now = now or timezone.now()
    feeds = list(Feed.objects.filter(symbol=symbol))
    rest = [f for f in feeds if f.source == Feed.Source.REST]
    recorder = next((f for f in feeds if f.source == Feed.Source.STREAM), None)
    rows_at = [f.last_row_at for f in rest if f.last_row_at]
    return {
        "newest_row_at": max(rows_at) if rows_at else None,
        "lagging": sorted(f.stream for f in rest if f.is_stale(now)),
        "recorder_down": recorder is not None and recorder.is_stale(now),
        "stream_note": STREAM_UNDERCOUNT if recorder is not None else None,
    }
