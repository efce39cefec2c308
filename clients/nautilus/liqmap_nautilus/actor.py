"""An Actor that polls liqmap (on a clock timer, or on the bars that close on the interval)
and publishes each signal on the message bus.

Live, the HTTP call runs on Nautilus's executor (a thread) so retries and back-off never block
the event loop; its result is published from a short drain timer, on the loop's thread.
In a backtest the executor runs the call at once and the request carries ``at=`` the
simulated time, so the server answers as it would have then.
"""

from __future__ import annotations

import math
import queue
from collections import deque
from datetime import UTC, datetime, timedelta

from nautilus_trader.common.actor import Actor
from nautilus_trader.common.component import TestClock
from nautilus_trader.common.config import ActorConfig
from nautilus_trader.model.data import BarType

from .client import LiqmapClient, Outcome, iso_utc
from .data import LiqmapSignal, signal_data_type


class LiqmapSignalActorConfig(ActorConfig, frozen=True):
    base_url: str
    token: str
    symbol: str = "BTCUSDT"
    model: str = "ensemble"
    interval_secs: int = 60  # liqmap recomputes every minute at most
    # poll when a bar of this type closes on the interval's boundary, instead of on a timer:
    # in a backtest the timer fires after that bar was handled, so a strategy deciding on the
    # hour's bar would read the previous hour's signal
    bar_type: BarType | None = None
    timeout_secs: float = 5.0
    retries: int = 3
    # the longest Retry-After slept through; longer ones skip polls (publishing WAIT). A
    # backtest's clock stands still while it waits, so there it waits rather than skip
    max_wait_secs: float | None = None  # default: 30 s live, 600 s in a backtest


class LiqmapSignalActor(Actor):
    def __init__(self, config: LiqmapSignalActorConfig) -> None:
        super().__init__(config)
        self._ready: queue.SimpleQueue = queue.SimpleQueue()
        # the signals published, for reports and tests (bounded: a live node runs for months)
        self.received: deque[LiqmapSignal] = deque(maxlen=100_000)

    def on_start(self) -> None:
        self.backtest = isinstance(self.clock, TestClock)
        self.client = LiqmapClient(
            self.config.base_url,
            self.config.token,
            log=self.log,
            timeout=self.config.timeout_secs,
            retries=self.config.retries,
            max_wait=self.config.max_wait_secs or (600.0 if self.backtest else 30.0),
        )
        if not self.backtest:
            self.clock.set_timer("liqmap-drain", timedelta(seconds=1), callback=self._drain)
        if self.config.bar_type is not None:
            # subscribed before the strategy (added first), so handled before it
            self.subscribe_bars(self.config.bar_type)
            return
        # polls on the interval's boundaries (on the hour for 3600 s), where bar-driven
        # strategies decide; one poll now so that there is a signal from the start
        interval = timedelta(seconds=self.config.interval_secs)
        now = self.clock.utc_now()
        first = now + (datetime.min.replace(tzinfo=UTC) - now) % interval
        self.clock.set_timer(
            "liqmap-poll", interval, start_time=first, callback=self._poll, fire_immediately=True
        )
        if first > now:
            self._poll()

    def on_bar(self, bar) -> None:
        if bar.ts_event % (self.config.interval_secs * 1_000_000_000) == 0:
            self._poll()

    def on_stop(self) -> None:
        for name in ("liqmap-poll", "liqmap-drain"):
            if name in self.clock.timer_names:
                self.clock.cancel_timer(name)

    def _poll(self, event=None) -> None:
        now_ns = self.clock.timestamp_ns()
        self.queue_for_executor(self._fetch, (now_ns,))
        if self.backtest:  # the executor ran the call already: publish at this very time
            self._drain()

    def _fetch(self, now_ns: int) -> None:
        at = self.clock.utc_now() if self.backtest else None
        requested = iso_utc(self.clock.utc_now())
        self._ready.put(
            (now_ns, requested, self.client.signal(self.config.symbol, at, self.config.model))
        )

    def _drain(self, event=None) -> None:
        while not self._ready.empty():
            now_ns, requested, outcome = self._ready.get()
            self._publish(now_ns, requested, outcome)

    def _publish(self, now_ns: int, requested: str, outcome: Outcome) -> None:
        if outcome.signal is None:
            # no signal = WAIT: the strategy's rules stay safe while liqmap is unreachable
            signal = LiqmapSignal(
                ts_event=now_ns,
                ts_init=self.clock.timestamp_ns(),
                symbol=self.config.symbol,
                action="WAIT",
                reason=f"no signal from liqmap: {outcome.error}",
                requested_at=requested,
                source="client",
            )
        else:
            answer = outcome.signal
            signal = LiqmapSignal(
                ts_event=now_ns,
                ts_init=self.clock.timestamp_ns(),
                symbol=self.config.symbol,
                action=answer["action"],
                reason=str(answer.get("reason") or ""),
                confidence=_number(answer.get("confidence")),
                cluster_price=_number(answer.get("cluster_price")),
                distance_pct=_number(answer.get("distance_pct")),
                current_price=_number(answer.get("current_price")),
                as_of=str(answer.get("as_of") or ""),
                requested_at=requested,
                source="server",
            )
        self.received.append(signal)
        self.publish_data(signal_data_type(self.config.symbol), signal)


def _number(value) -> float:
    try:
        return float(value) if value is not None else math.nan
    except (TypeError, ValueError):
        return math.nan
