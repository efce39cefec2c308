"""An hourly trend follower that reads liqmap's signal before every entry.

The rule is liqmap's own paper-trading baseline (``manage.py paper_trade``) so the two can be
compared: at each hour's close, long while the close is above the mean of the last 24 hourly
closes, short below. With the filter, AVOID (a liquidation cluster within 2 %) and WAIT (the
models are not confident, or no signal) block entries: ``on_block="flat"`` also closes the
position (paper_trade's rule), ``"hold"`` keeps an open one and only skips new entries.
``fade_reversals`` (with the filter) trades against the last hour's move on
REVERSAL_OPPORTUNITY (a cascade overshoots). A signal older than ``max_signal_age_secs``
counts as WAIT.
"""

from __future__ import annotations

from collections import Counter, deque
from decimal import Decimal

from nautilus_trader.config import StrategyConfig
from nautilus_trader.model.data import Bar, BarType
from nautilus_trader.model.enums import OrderSide
from nautilus_trader.model.identifiers import InstrumentId
from nautilus_trader.trading.strategy import Strategy

from .data import LiqmapSignal, signal_data_type

BLOCKING = ("AVOID", "WAIT")
NS_PER_SEC = 1_000_000_000


class LiqmapTrendConfig(StrategyConfig, frozen=True):
    instrument_id: InstrumentId
    bar_type: BarType
    symbol: str = "BTCUSDT"
    notional: Decimal = Decimal(100_000)  # USDT per position
    decide_every_secs: int = 3600
    lookback: int = 24  # decisions in the trend's mean
    use_filter: bool = True
    on_block: str = "flat"  # or "hold"
    fade_reversals: bool = False
    max_signal_age_secs: int = 7200


class LiqmapTrend(Strategy):
    def __init__(self, config: LiqmapTrendConfig) -> None:
        if config.on_block not in ("flat", "hold"):
            raise ValueError(f"on_block is 'flat' or 'hold', not {config.on_block!r}")
        super().__init__(config)
        self.closes: deque[float] = deque(maxlen=config.lookback)
        self.signal: LiqmapSignal | None = None
        self.seen = Counter()  # signals received, by action
        self.acted = Counter()  # decisions, by what the signal made the strategy do
        # (time ns, the signal's time ns or None, action used, trend side, target side)
        self.decisions: list[tuple[int, int | None, str, int, int]] = []
        self.equity: list[tuple[int, float]] = []  # (time ns, USDT), marked at each decision

    def on_start(self) -> None:
        self.instrument = self.cache.instrument(self.config.instrument_id)
        self.subscribe_bars(self.config.bar_type)
        self.subscribe_data(signal_data_type(self.config.symbol))

    def on_data(self, data) -> None:
        if isinstance(data, LiqmapSignal):
            self.signal = data
            self.seen[data.action] += 1

    def action_now(self, now_ns: int) -> str:
        """The signal's action, or WAIT when there is none or it is stale."""
        signal = self.signal
        if (
            signal is None
            or now_ns - signal.ts_event > self.config.max_signal_age_secs * NS_PER_SEC
        ):
            return "WAIT"
        return signal.action

    def on_bar(self, bar: Bar) -> None:
        if bar.ts_event % (self.config.decide_every_secs * NS_PER_SEC):
            return
        close = float(bar.close)
        previous = self.closes[-1] if self.closes else close
        self.closes.append(close)
        self.equity.append((bar.ts_event, self.mark_equity()))
        if len(self.closes) < self.config.lookback:
            return
        trend = _sign(close - sum(self.closes) / len(self.closes))
        action = self.action_now(bar.ts_event)
        current = _sign(self.position_qty())
        target = trend
        if self.config.use_filter and action in BLOCKING:
            if trend != 0 and trend != current:
                self.acted[f"entry skipped on {action}"] += 1
            target = current if self.config.on_block == "hold" and current == trend else 0
            if current != 0 and target == 0:
                self.acted[f"closed on {action}"] += 1
        elif (
            self.config.use_filter
            and self.config.fade_reversals
            and action == "REVERSAL_OPPORTUNITY"
        ):
            target = -_sign(close - previous)
            self.acted["reversal faded"] += 1
        signal_ns = self.signal.ts_event if self.signal is not None else None
        self.decisions.append((bar.ts_event, signal_ns, action, trend, target))
        self.move_to(target, close)

    def position_qty(self) -> float:
        return float(self.portfolio.net_position(self.config.instrument_id))

    def mark_equity(self) -> float:
        account = self.portfolio.account(self.config.instrument_id.venue)
        balance = float(account.balance_total(self.instrument.quote_currency))
        unrealized = self.portfolio.unrealized_pnl(self.config.instrument_id)
        return balance + (float(unrealized) if unrealized is not None else 0.0)

    def move_to(self, side: int, price: float) -> None:
        """One market order from the current position to ``side`` × notional (a flip is one
        order, as on Binance's one-way mode)."""
        current = self.position_qty()
        if _sign(current) == side:
            return
        wanted = float(self.config.notional) / price * side
        delta = self.instrument.make_qty(abs(wanted - current))
        if delta.as_double() == 0:
            return
        order = self.order_factory.market(
            self.config.instrument_id,
            OrderSide.BUY if wanted > current else OrderSide.SELL,
            delta,
        )
        self.submit_order(order)

    def on_stop(self) -> None:
        self.equity.append((self.clock.timestamp_ns(), self.mark_equity()))


def _sign(value: float) -> int:
    return (value > 0) - (value < 0)
