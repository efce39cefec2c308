"""Binance's USDⓈ-M WebSocket market streams: the ``forceOrder`` (liquidation) stream's URL and
its events turned into ``liquidation_history`` rows.

An event (raw stream, or wrapped as ``{"stream": ..., "data": event}`` by a combined stream)::

    {"e": "forceOrder", "E": 1568014460893, "o": {"s": "BTCUSDT", "S": "SELL", "o": "LIMIT",
     "f": "IOC", "q": "0.014", "p": "9910", "ap": "9910", "X": "FILLED", "l": "0.014",
     "z": "0.014", "T": 1568014460893}}

``S`` is the liquidation order's side: SELL closes a long, so the liquidated position is a long
(as in the archive's liquidationSnapshot files).
"""

from __future__ import annotations

# Binance pushes at most one forceOrder event per symbol per second (the latest one): a burst of
# liquidations reaches the stream as one row a second, so stream rows undercount realized
# liquidations. Said once, here: the recorder logs it, the API and pages can show it.
STREAM_UNDERCOUNT = (
    "Binance's forceOrder stream sends at most one liquidation per symbol per second (the "
    "latest); liquidations recorded from it undercount the real ones during bursts."
)

_SIDES = {"SELL": "long", "BUY": "short"}


def force_order_url(base_url: str, symbols: list[str]) -> str:
    """The combined stream of the symbols' liquidations, e.g.
    ``wss://fstream.binance.com/stream?streams=btcusdt@forceOrder/ethusdt@forceOrder``."""
    streams = "/".join(f"{s.lower()}@forceOrder" for s in symbols)
    return f"{base_url.rstrip('/')}/stream?streams={streams}"


def liquidation_row(message: dict) -> dict | None:
    """The ``liquidation_history`` row of a forceOrder event (times in epoch ms), or None for
    anything else the stream sends."""
    event = message.get("data", message)
    if not isinstance(event, dict) or event.get("e") != "forceOrder":
        return None
    o = event["o"]
    side = _SIDES.get(o.get("S"))
    if side is None:
        return None
    return {
        "symbol": o["s"],
        "timestamp": int(o["T"]),
        "side": side,
        "price": float(o["ap"]),  # the average fill, as the archive's price column
        "quantity": float(o["z"]),
        "bankruptcy_price": float(o["p"]),
        "original_quantity": float(o["q"]),
        "order_type": o.get("o"),
        "time_in_force": o.get("f"),
        "order_status": o.get("X"),
    }
