"""A small market simulated position by position, from known traders, for calibration tests.

Independent of the ledger: every position is drawn one by one (side, leverage from a known
mix, an exponential holding time with a known half-life per leverage), and is liquidated if
the price path reaches its level before the holding time is up.
"""

from __future__ import annotations

import numpy as np
import pandas as pd

from models_engine.brackets import liquidation_price
from models_engine.ledger import first_crossing
from models_engine.market import BAR_MS, MarketData
from models_engine.units import DAY_MS

from .helpers import T0, market


def simulated_market(
    days: int,
    mix: dict[float, float],
    half_life_hours: dict[float, float],
    *,
    positions_per_bar: int = 12,
    position_usdt: float = 20_000.0,
    volatility: float = 0.002,
    seed: int = 0,
) -> tuple[MarketData, pd.DataFrame]:
    """(market, realized liquidations: time ms, price, side, volume USDT).

    Open interest is flat (nothing closes with it); every bar trades the same notional, so
    openings are proportional to volume.
    """
    rng = np.random.default_rng(seed)
    n = days * DAY_MS // BAR_MS
    close = 60_000 * np.exp(np.cumsum(rng.normal(0, volatility, n)))
    spread = np.abs(rng.normal(0, volatility / 2, n)) * close
    low, high = close - spread, close + spread
    times = T0 + np.arange(n, dtype=np.int64) * BAR_MS
    volume_coins = positions_per_bar * position_usdt * 20 / close  # positions are 5 % of volume
    flat = market(close, low=low, high=high, oi=np.full(n + 1, 80_000.0), volume=volume_coins)
    q = n * positions_per_bar
    bar = np.repeat(np.arange(n), positions_per_bar)
    tiers = np.array(list(mix))
    leverage = rng.choice(tiers, q, p=np.array(list(mix.values())))
    is_long = rng.random(q) < 0.5
    entry = close[bar]  # the bar's VWAP: every trade at its close
    level = liquidation_price(entry, leverage, is_long, np.full(q, position_usdt))
    hours = np.array([half_life_hours[t] for t in leverage])
    held_bars = rng.exponential(hours * 12 / np.log(2))
    crossing = np.full(q, n)
    crossing[is_long] = first_crossing(low, bar[is_long] + 1, level[is_long])
    crossing[~is_long] = first_crossing(-high, bar[~is_long] + 1, -level[~is_long])
    hit = (crossing < n) & (crossing - bar < held_bars)
    realized = pd.DataFrame(
        {
            "time": times[crossing[hit]] + BAR_MS // 2,
            "price": level[hit],
            "side": np.where(is_long[hit], "long", "short"),
            "volume": position_usdt * level[hit] / entry[hit],
        }
    ).sort_values("time", ignore_index=True)
    return flat, realized
