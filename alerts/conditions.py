"""What each kind of alert observes, from what the signals endpoint reads: the rules are the
engine's (models_engine.signals), the data the published snapshot's."""

from __future__ import annotations

from collections.abc import Callable
from datetime import datetime
from functools import cache

from heatmaps import warehouse
from heatmaps.api import payloads
from models_engine.registry import ENSEMBLE
from models_engine.signals import compact_usd
from models_engine.units import MINUTE_MS

from .models import Alert

# the facts of a signal an alert's receiver gets
SIGNAL_FACTS = (
    "action",
    "reason",
    "cluster_price",
    "cluster_notional",
    "distance_pct",
    "current_price",
    "as_of",
)


class Readings:
    """The warehouse's answers for one evaluation, each asked once whatever the number of
    alerts that need it."""

    def __init__(self, now: datetime):
        self.now_ms = int(now.timestamp() * 1000)
        self.signal: Callable[..., dict] = cache(payloads.signal)
        self.data_end: Callable[[str], int | None] = cache(warehouse.data_end)


def observe(alert: Alert, readings: Readings) -> tuple[bool, str, dict]:
    """(whether the alert's condition holds, a sentence saying what is seen, the facts)."""
    if alert.kind == Alert.Kind.STALE_FEED:
        return _stale_feed(alert, readings)
    if alert.kind == Alert.Kind.CASCADE:
        signal = readings.signal(alert.symbol, ENSEMBLE)
        facts = {k: signal[k] for k in SIGNAL_FACTS}
        return signal["action"] == "REVERSAL_OPPORTUNITY", signal["reason"], facts
    signal = readings.signal(alert.symbol, ENSEMBLE, alert.min_notional)
    facts = {k: signal[k] for k in SIGNAL_FACTS}
    distance = signal["distance_pct"]
    if distance is None:
        return False, f"No liquidation cluster for {alert.symbol}", facts
    message = (
        f"{alert.symbol} is {distance:.2f}% from a {compact_usd(signal['cluster_notional'])} "
        f"liquidation cluster at ${signal['cluster_price']:,.0f}"
    )
    return distance <= alert.distance_pct, message, facts


def _stale_feed(alert: Alert, readings: Readings) -> tuple[bool, str, dict]:
    end = readings.data_end(alert.symbol)
    if end is None:
        return True, f"No candles for {alert.symbol} in the warehouse", {"data_end": None}
    age = (readings.now_ms - end) / MINUTE_MS
    facts = {"data_end": payloads.iso(end), "age_minutes": round(age, 1)}
    message = (
        f"{alert.symbol}'s newest candle closed {age:,.0f} min ago "
        f"(limit {alert.stale_minutes} min)"
    )
    return age > alert.stale_minutes, message, facts
