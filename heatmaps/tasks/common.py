"""What the jobs share: the symbol's warehouse and the span of its candles, days and times
in epoch ms."""

from __future__ import annotations

from datetime import UTC, date, datetime

from heatmaps import warehouse
from models_engine.units import DAY_MS


def existing(symbol: str):
    """The symbol's warehouse to write, if it has one (a typo must not leave an empty file);
    a folder that cannot hold it is for ``connect`` to name."""
    path = warehouse.path_of(symbol)
    if not path.exists() and (path.parent.is_dir() or not path.parent.exists()):
        no_candles(symbol)
    return warehouse.connect(symbol)


def loaded_span(con, symbol: str) -> tuple[int, int]:
    """First and last candle of ``symbol``; ValueError naming the loaded symbols if none."""
    span = warehouse.data_range(con, symbol)
    if span is None:
        no_candles(symbol)
    return span


def no_candles(symbol: str):
    loaded = ", ".join(s for s in warehouse.stored_symbols() if s != symbol) or "none"
    raise ValueError(
        f"no candles for {symbol} in the warehouse (loaded: {loaded}): run ingest first"
    )


def day_ms(day: date) -> int:
    """Epoch ms of a day's 00:00 UTC."""
    return (day - date(1970, 1, 1)).days * DAY_MS


def utc(ms: int) -> datetime:
    return datetime.fromtimestamp(ms / 1000, UTC)


def naive_iso(ms: int) -> str:
    return utc(ms).replace(tzinfo=None).isoformat()
