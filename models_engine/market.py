"""The market bundle a model reads, and the regular bar grid every model works on.

All timestamps are epoch milliseconds UTC. Frames (columns a model may use):

- ``klines``: open_time, open, high, low, close, volume (coins), quote_volume (USDT),
  taker_buy_volume (coins). One row per bar (5 min by default).
- ``metrics``: create_time, sum_open_interest (coins), sum_open_interest_value (USDT): the
  open interest *at* create_time; optionally count_long_short_ratio (accounts net long /
  accounts net short, Binance's global long/short account ratio).
- ``mark``: open_time, high, low: mark-price candles of the bar length or shorter.
- ``funding``: calc_time, last_funding_rate (per funding interval, e.g. 0.0001 = 0.01 %).
- ``trades``: transact_time, price, quantity (coins), is_buyer_maker (True = taker sold).
- ``realized``: time, price, side, volume (USDT): the liquidations that really happened (what
  the ensemble's learned weights are scored on).
"""

from __future__ import annotations

from dataclasses import dataclass, fields

import numpy as np
import pandas as pd

from .units import BAR_MS


@dataclass(frozen=True)
class MarketData:
    klines: pd.DataFrame
    metrics: pd.DataFrame | None = None
    mark: pd.DataFrame | None = None
    funding: pd.DataFrame | None = None
    trades: pd.DataFrame | None = None
    realized: pd.DataFrame | None = None
    symbol: str = "BTCUSDT"
    bar_ms: int = BAR_MS

    def has(self, name: str) -> bool:
        frame = getattr(self, name)
        return frame is not None and len(frame) > 0


@dataclass(frozen=True)
class Bars:
    """The regular bar grid with everything the ledger needs, one array entry per bar."""

    open_time: np.ndarray  # ms
    vwap: np.ndarray  # USDT per coin; the bar's close where it traded nothing
    traded_notional: np.ndarray  # USDT traded in the bar
    close: np.ndarray
    low: np.ndarray  # the price path that triggers liquidations (mark where known)
    high: np.ndarray
    taker_buy_share: np.ndarray  # 0..1, 0.5 where unknown
    oi_change: np.ndarray  # coins over the bar; 0 where open interest is unknown
    keep_log: np.ndarray  # log of the share of open positions that survive the bar's closing
    funding_rate: np.ndarray  # latest funding rate known at the bar's open; 0 if none
    account_long_share: np.ndarray  # 0..1, accounts net long at the bar's open; NaN if unknown
    traded: np.ndarray  # bool: the bar has a kline
    has_oi: np.ndarray  # bool: open interest known at both ends of the bar
    has_mark: np.ndarray  # bool
    bar_ms: int

    def __len__(self) -> int:
        return len(self.open_time)


def build_bars(market: MarketData) -> Bars:
    """Align klines, open interest, mark price and funding on one regular bar grid.

    Gaps are explicit: a bar without a kline repeats the last close and trades nothing; a bar
    without open interest at both ends opens and closes nothing.
    """
    bar = market.bar_ms
    k = market.klines
    if k is None or len(k) == 0:
        return _empty_bars(bar)
    k = k.assign(open_time=(k["open_time"].to_numpy(np.int64) // bar) * bar)
    k = k.groupby("open_time", sort=True).agg(
        open=("open", "first"),
        high=("high", "max"),
        low=("low", "min"),
        close=("close", "last"),
        volume=("volume", "sum"),
        quote_volume=("quote_volume", "sum"),
        taker_buy_volume=("taker_buy_volume", "sum"),
    )
    grid = np.arange(k.index[0], k.index[-1] + bar, bar, dtype=np.int64)
    k = k.reindex(grid)
    traded = k["close"].notna().to_numpy()
    close = k["close"].ffill().to_numpy(float)
    volume = k["volume"].fillna(0).to_numpy(float)
    with np.errstate(invalid="ignore", divide="ignore"):
        vwap = np.where(volume > 0, k["quote_volume"].to_numpy(float) / volume, close)
        share = np.where(volume > 0, k["taker_buy_volume"].to_numpy(float) / volume, 0.5)
    low = k["low"].fillna(pd.Series(close, index=grid)).to_numpy(float)
    high = k["high"].fillna(pd.Series(close, index=grid)).to_numpy(float)

    has_mark = np.zeros(len(grid), dtype=bool)
    if market.has("mark"):
        m = market.mark
        m = m.assign(open_time=(m["open_time"].to_numpy(np.int64) // bar) * bar)
        m = m.groupby("open_time").agg(low=("low", "min"), high=("high", "max")).reindex(grid)
        has_mark = m["low"].notna().to_numpy()
        low = np.where(has_mark, m["low"].to_numpy(float), low)
        high = np.where(has_mark, m["high"].to_numpy(float), high)

    oi_change = np.zeros(len(grid))
    keep_log = np.zeros(len(grid))
    has_oi = np.zeros(len(grid), dtype=bool)
    accounts = np.full(len(grid), np.nan)
    if market.has("metrics"):
        metrics = market.metrics.drop_duplicates("create_time").set_index("create_time")
        oi = metrics["sum_open_interest"].astype(float)
        if "count_long_short_ratio" in metrics:
            ratio = metrics["count_long_short_ratio"].astype(float)
            ratio = ratio[ratio > 0].reindex(grid, method="ffill").to_numpy()
            accounts = ratio / (1 + ratio)
        start = oi.reindex(grid).to_numpy()
        end = oi.reindex(grid + bar).to_numpy()
        has_oi = np.isfinite(start) & np.isfinite(end) & (start > 0)
        oi_change = np.where(has_oi, end - start, 0.0)
        with np.errstate(invalid="ignore", divide="ignore"):
            keep = np.where(has_oi & (oi_change < 0), end / start, 1.0)
        keep_log = np.log(np.clip(keep, 1e-12, 1.0))

    funding = np.zeros(len(grid))
    if market.has("funding"):
        f = market.funding.sort_values("calc_time")
        at = np.searchsorted(f["calc_time"].to_numpy(np.int64), grid, side="right") - 1
        rates = f["last_funding_rate"].to_numpy(float)
        funding = np.where(at >= 0, rates[np.clip(at, 0, None)], 0.0)

    quote = k["quote_volume"].fillna(0).to_numpy(float)
    return Bars(
        grid,
        vwap,
        quote,
        close,
        low,
        high,
        share,
        oi_change,
        keep_log,
        funding,
        accounts,
        traded,
        has_oi,
        has_mark,
        bar,
    )


# each frame's time column (``realized`` is the truth a model is scored on, not an input)
TIME_COLUMNS = {
    "klines": "open_time",
    "mark": "open_time",
    "metrics": "create_time",
    "funding": "calc_time",
    "trades": "transact_time",
}


def cut_market(market: MarketData, end: int, start: int | None = None) -> MarketData:
    """The market of the bars before ``end`` (ms; open interest through ``end``, the last
    bar's close), from ``start`` on: what a run at ``end`` would have had."""
    frames = {}
    for name, column in TIME_COLUMNS.items():
        frame = getattr(market, name)
        if frame is None:
            continue
        t = frame[column].to_numpy(np.int64)
        keep = (t <= end) if name == "metrics" else (t < end)
        if start is not None:
            keep &= t >= start
        frames[name] = frame[keep].reset_index(drop=True)
    return MarketData(**frames, symbol=market.symbol, bar_ms=market.bar_ms)


def slice_bars(bars: Bars, start: int, stop: int) -> Bars:
    """Bars ``start .. stop − 1`` of a grid."""
    return Bars(
        *(
            getattr(bars, f.name)[start:stop] if f.name != "bar_ms" else bars.bar_ms
            for f in fields(Bars)
        )
    )


def _empty_bars(bar: int) -> Bars:
    f, b = np.zeros(0), np.zeros(0, dtype=bool)
    return Bars(np.zeros(0, dtype=np.int64), f, f, f, f, f, f, f, f, f, f, b, b, b, bar)


def auto_price_step(price: float) -> float:
    """The power of ten closest to price/420: $100 for BTC anywhere from 13k to 133k, $10 for
    ETH at 2.5k (about 0.25 % of the price, the resolution of the spec's heatmap)."""
    if not np.isfinite(price) or price <= 0:
        return 1.0
    return float(10 ** np.round(np.log10(price / 420)))
