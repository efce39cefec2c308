"""Tiny hand-made markets for engine tests."""

from __future__ import annotations

import numpy as np
import pandas as pd

from models_engine.market import BAR_MS, MarketData

T0 = 1_704_067_200_000  # 2024-01-01 00:00 UTC


def market(
    close,
    *,
    oi,
    low=None,
    high=None,
    taker_buy_share=0.5,
    volume=100.0,
    funding=None,
    trades=None,
    mark=None,
) -> MarketData:
    """A market of len(close) 5-minute bars; ``oi`` holds open interest (coins) at each bar's
    open plus one at the end."""
    close = np.asarray(close, dtype=float)
    n = len(close)
    low = close if low is None else np.asarray(low, dtype=float)
    high = close if high is None else np.asarray(high, dtype=float)
    times = T0 + np.arange(n, dtype=np.int64) * BAR_MS
    klines = pd.DataFrame(
        {
            "open_time": times,
            "open": close,
            "high": high,
            "low": low,
            "close": close,
            "volume": volume,
            "quote_volume": volume * close,
            "taker_buy_volume": volume * np.broadcast_to(taker_buy_share, n),
        }
    )
    oi = np.asarray(oi, dtype=float)
    metrics = pd.DataFrame(
        {
            "create_time": T0 + np.arange(len(oi), dtype=np.int64) * BAR_MS,
            "sum_open_interest": oi,
            "sum_open_interest_value": oi * close[0],
        }
    )
    return MarketData(klines=klines, metrics=metrics, funding=funding, trades=trades, mark=mark)
