"""Recording realized liquidations from Binance's ``forceOrder`` WebSocket stream.

The archive stopped publishing liquidations, so going forward they come from the stream. The
recorder buffers events and writes them every few seconds, one short statement per symbol's
warehouse (its writer lock is held only for that), reconnects with exponential backoff when the
connection drops, and never writes a row twice: an insert skips a liquidation whose natural
key (symbol, trade time, side, price, qty) is already stored, so the events a server resends
after a reconnect add nothing.

Binance sends at most one liquidation per symbol per second: the stream undercounts
(``heatmaps.binance.stream.STREAM_UNDERCOUNT``).
"""

from __future__ import annotations

import json
import time
from collections.abc import Callable

import pandas as pd
import structlog
from django.conf import settings
from websockets.exceptions import WebSocketException
from websockets.sync.client import connect

from heatmaps import warehouse
from heatmaps.binance.stream import force_order_url, liquidation_row
from heatmaps.feeds import STREAM_UNDERCOUNT, Feed

log = structlog.get_logger("liqmap.record")

STREAM = "forceOrder"
TABLE = "liquidation_history"
# the feeds' heartbeat when nothing happens (well inside heatmaps.feeds.STALE_AFTER)
HEARTBEAT_SECONDS = 30.0


class Recorder:
    """The buffer between the stream and the warehouse, and the feeds it reports to."""

    def __init__(self, symbols: list[str], flush_seconds: float, publish_seconds: float):
        self.symbols = symbols
        self.flush_seconds = flush_seconds
        self.publish_seconds = publish_seconds
        self.buffer: list[dict] = []
        self.added = 0
        self.flush_at = time.monotonic() + flush_seconds
        self.beat_at = 0.0
        self.published_at = time.monotonic()
        self.unpublished: dict[str, int] = {}  # symbol: its oldest row not yet published

    def take(self, raw: str | bytes) -> None:
        try:
            row = liquidation_row(json.loads(raw))
        except (ValueError, KeyError, TypeError) as exc:
            log.warning("stream_event_unreadable", error=str(exc), event=str(raw)[:200])
            return
        if row is not None and row["symbol"] in self.symbols:
            self.buffer.append(row)

    def due(self) -> bool:
        return time.monotonic() >= self.flush_at

    def flush(self, error: str = "", status: str | None = None) -> int:
        """Write the buffer (if any) and report to the feeds; returns rows added."""
        self.flush_at = time.monotonic() + self.flush_seconds
        rows, self.buffer = self.buffer, []
        added: dict[str, int] = {}
        newest: dict[str, int | None] = {}
        if rows:
            try:
                added, newest = self._write(rows)
            except warehouse.WarehouseError as exc:  # busy or unwritable: keep them for later
                self.buffer = rows + self.buffer
                error = error or str(exc)
                log.warning("recorder_write_failed", rows=len(rows), error=str(exc))
        if rows or error or status or time.monotonic() >= self.beat_at:
            for symbol in self.symbols:
                Feed.beat(
                    symbol,
                    STREAM,
                    Feed.Source.STREAM,
                    last_row_ms=newest.get(symbol),
                    added=added.get(symbol, 0),
                    error=error,
                    status=status,
                )
            self.beat_at = time.monotonic() + HEARTBEAT_SECONDS
        return sum(added.values())

    def _write(self, rows: list[dict]) -> tuple[dict[str, int], dict[str, int | None]]:
        """Rows added and the newest stored row, per symbol (each symbol's warehouse in one
        statement); publishes at most every ``publish_seconds``."""
        added: dict[str, int] = {}
        newest: dict[str, int | None] = {}
        publishing = time.monotonic() - self.published_at >= self.publish_seconds
        for symbol, batch in pd.DataFrame(rows).groupby("symbol"):
            with warehouse.connect(symbol) as con:
                added[symbol] = warehouse.insert_rows(con, TABLE, batch, "stream")
                newest[symbol] = warehouse.newest_time(con, TABLE, symbol, source="stream")
                if added[symbol]:
                    oldest = int(batch["timestamp"].min())
                    self.unpublished[symbol] = min(oldest, self.unpublished.get(symbol, oldest))
                if publishing and symbol in self.unpublished:
                    warehouse.publish(con, symbol, since=self.unpublished.pop(symbol))
        if publishing:
            self._publish_pending()
        self.added += sum(added.values())
        return added, newest

    def _publish_pending(self) -> None:
        """Publish the symbols with rows written but not published (none in this batch)."""
        for symbol, since in list(self.unpublished.items()):
            with warehouse.connect(symbol) as con:
                warehouse.publish(con, symbol, since=since)
            del self.unpublished[symbol]
        self.published_at = time.monotonic()

    def close(self) -> None:
        """Write what is left, publish what was not, and say the feeds stopped."""
        self.flush(status=Feed.Status.STOPPED)
        self._publish_pending()


def record_liquidations(
    symbols: list[str],
    *,
    url: str | None = None,
    stop: Callable[[], bool] = lambda: False,
    flush_seconds: float = 3.0,
    publish_seconds: float = 60.0,
    backoff: tuple[float, float] = (1.0, 60.0),
) -> dict:
    """Record the symbols' liquidations until ``stop()`` says so (a long-running process).

    ``url`` is the stream server (default BINANCE_WS_URL); ``backoff`` the first and the
    longest wait before reconnecting (doubling in between, back to the first once events
    arrive). Returns the rows added and the reconnections."""
    log.warning("liquidation_stream_undercounts", symbols=symbols, note=STREAM_UNDERCOUNT)
    address = force_order_url(url or settings.BINANCE_WS_URL, symbols)
    recorder = Recorder(symbols, flush_seconds, publish_seconds)
    delay, reconnects = backoff[0], 0
    try:
        while not stop():
            try:
                with connect(address, open_timeout=10, close_timeout=2) as ws:
                    log.info("stream_connected", url=address)
                    while not stop():
                        wait = max(0.05, recorder.flush_at - time.monotonic())
                        try:
                            recorder.take(ws.recv(timeout=wait))
                            delay = backoff[0]
                        except TimeoutError:
                            pass
                        if recorder.due():
                            recorder.flush()
            except (OSError, WebSocketException) as exc:
                reconnects += 1
                error = f"{type(exc).__name__}: {exc}"
                log.warning("stream_dropped", error=error, reconnect_in_seconds=delay)
                recorder.flush(error=error)  # keep what arrived before the drop
                _sleep(delay, stop)
                delay = min(delay * 2, backoff[1])
    finally:
        recorder.close()
    log.info("recorder_stopped", added=recorder.added, reconnects=reconnects)
    return {"added": recorder.added, "reconnects": reconnects}


def _sleep(seconds: float, stop: Callable[[], bool]) -> None:
    end = time.monotonic() + seconds
    while time.monotonic() < end and not stop():
        time.sleep(min(0.1, end - time.monotonic()))
