"""Binance's public USDⓈ-M REST endpoints, through ccxt, turned into warehouse rows.

ccxt's ``binanceusdm`` exchange gives the raw endpoints as implicit methods
(``fapiPublicGetKlines`` is ``GET /fapi/v1/klines``, ``fapiDataGetOpenInterestHist`` is
``GET /futures/data/openInterestHist``) and throttles requests by their weight; this module
adds what Binance asks of a client beyond that: keep under the minute's weight budget
(``X-MBX-USED-WEIGHT-1m``), and after a 429 (too many requests) or a 418 (banned for ignoring
429s) wait for as long as ``Retry-After`` says before trying again.

Rows come back as DataFrames in the warehouse's live columns (``warehouse.LIVE_TABLES``),
times in epoch ms, only for periods that have closed before ``now_ms``.
"""

from __future__ import annotations

import time
from collections.abc import Callable

import ccxt
import pandas as pd
import structlog

log = structlog.get_logger("liqmap.follow")

# Binance's default limit is 2400 weight a minute per IP; leave room for other clients.
WEIGHT_BUDGET = 2000
# when a 429/418 comes without Retry-After
DEFAULT_RETRY_AFTER = 60.0
INTERVAL_MS = {"1m": 60_000, "5m": 300_000}
OPEN_INTEREST_PERIOD_MS = 300_000
_KLINE_LIMIT, _OI_LIMIT, _FUNDING_LIMIT = 1500, 500, 1000


class RateLimited(Exception):
    """Binance kept answering 429/418 after every wait."""


class BinanceRest:
    """A client of the public USDⓈ-M REST API. ``base_url`` replaces https://fapi.binance.com
    (a loopback server in tests); ``sleep`` is how it waits (time.sleep); ``throttle`` off
    lets ccxt send requests back to back (a loopback server has no weight to spare)."""

    def __init__(
        self,
        base_url: str | None = None,
        *,
        retries: int = 5,
        sleep: Callable[[float], None] = time.sleep,
        timeout_ms: int = 10_000,
        throttle: bool = True,
    ):
        # ccxt's throttle spaces requests by their weight; Binance's answers are the authority
        self.exchange = ccxt.binanceusdm({"enableRateLimit": throttle, "timeout": timeout_ms})
        if base_url:
            base = base_url.rstrip("/")
            self.exchange.urls["api"]["fapiPublic"] = f"{base}/fapi/v1"
            self.exchange.urls["api"]["fapiData"] = f"{base}/futures/data"
        self.retries = retries
        self.sleep = sleep
        self.requests = 0

    def get(self, method: str, params: dict) -> list | dict:
        """Call the implicit ccxt method ``method`` with Binance's own parameters."""
        call = getattr(self.exchange, method)
        for attempt in range(self.retries + 1):
            self.requests += 1
            try:
                answer = call(params)
            except (ccxt.DDoSProtection, ccxt.RateLimitExceeded) as exc:
                wait = self._retry_after()
                log.warning(
                    "binance_rate_limited",
                    endpoint=method,
                    retry_after_seconds=wait,
                    attempt=attempt + 1,
                    error=str(exc)[:200],
                )
                if attempt == self.retries:
                    raise RateLimited(
                        f"{method}: still rate limited after {attempt + 1} tries"
                    ) from exc
                self.sleep(wait)
                continue
            self._keep_under_budget(method)
            return answer
        raise AssertionError("unreachable")

    def _header(self, name: str) -> str | None:
        headers = self.exchange.last_response_headers or {}
        for key, value in headers.items():
            if key.lower() == name.lower():
                return value
        return None

    def _retry_after(self) -> float:
        value = self._header("Retry-After")
        try:
            return max(float(value), 0.0)
        except (TypeError, ValueError):
            return DEFAULT_RETRY_AFTER

    def _keep_under_budget(self, method: str) -> None:
        try:
            used = int(self._header("X-MBX-USED-WEIGHT-1m") or 0)
        except ValueError:
            return
        if used >= WEIGHT_BUDGET:
            # the weight resets with the wall-clock minute
            wait = 60 - time.time() % 60 + 1
            log.warning("binance_weight_budget", endpoint=method, used=used, wait_seconds=wait)
            self.sleep(wait)

    # --- endpoints ------------------------------------------------------------------------

    def klines(
        self, symbol: str, interval: str, start_ms: int, now_ms: int, *, mark: bool = False
    ) -> pd.DataFrame:
        """Closed candles (or mark-price candles) opening in [start, now)."""

        def row(r: list) -> dict:
            return {
                "symbol": symbol,
                "interval": interval,
                "open_time": int(r[0]),
                "open": float(r[1]),
                "high": float(r[2]),
                "low": float(r[3]),
                "close": float(r[4]),
                "volume": float(r[5]),
                "close_time": int(r[6]),
                "quote_volume": float(r[7]),
                "count": int(r[8]),
                "taker_buy_volume": float(r[9]),
                "taker_buy_quote_volume": float(r[10]),
            }

        return self._ranged(
            "fapiPublicGetMarkPriceKlines" if mark else "fapiPublicGetKlines",
            {"symbol": symbol, "interval": interval},
            start_ms,
            # Binance includes the candle still forming: only those opened a whole interval ago
            now_ms - INTERVAL_MS[interval],
            _KLINE_LIMIT,
            row,
            "open_time",
        )

    def open_interest(self, symbol: str, start_ms: int, now_ms: int) -> pd.DataFrame:
        """5-minute open interest and the accounts' long/short ratio (the archive's
        ``metrics`` columns the models read) stamped in [start, now]."""
        period = {"symbol": symbol, "period": "5m"}
        interest = self._ranged(
            "fapiDataGetOpenInterestHist",
            period,
            start_ms,
            now_ms,
            _OI_LIMIT,
            lambda r: {
                "symbol": symbol,
                "create_time": int(r["timestamp"]),
                "sum_open_interest": float(r["sumOpenInterest"]),
                "sum_open_interest_value": float(r["sumOpenInterestValue"]),
            },
            "create_time",
        )
        if interest.empty:
            return interest
        # the archive's count_long_short_ratio is the global accounts' long/short ratio
        ratio = self._ranged(
            "fapiDataGetGlobalLongShortAccountRatio",
            period,
            start_ms,
            now_ms,
            _OI_LIMIT,
            lambda r: {
                "create_time": int(r["timestamp"]),
                "count_long_short_ratio": float(r["longShortRatio"]),
            },
            "create_time",
        )
        if ratio.empty:
            return interest.assign(count_long_short_ratio=float("nan"))
        ratio = ratio.drop_duplicates("create_time")
        return interest.merge(ratio, on="create_time", how="left")

    def funding(self, symbol: str, start_ms: int, now_ms: int) -> pd.DataFrame:
        """Funding rates settled in [start, now] (the interval is not in this answer)."""
        return self._ranged(
            "fapiPublicGetFundingRate",
            {"symbol": symbol},
            start_ms,
            now_ms,
            _FUNDING_LIMIT,
            lambda r: {
                "symbol": symbol,
                "calc_time": int(r["fundingTime"]),
                "funding_interval_hours": None,
                "last_funding_rate": float(r["fundingRate"]),
            },
            "calc_time",
        )

    def premium_index(self, symbol: str) -> pd.DataFrame:
        """The current mark price, index price and estimated funding: one row."""
        r = self.get("fapiPublicGetPremiumIndex", {"symbol": symbol})
        return pd.DataFrame(
            [
                {
                    "symbol": symbol,
                    "time": int(r["time"]),
                    "mark_price": float(r["markPrice"]),
                    "index_price": float(r["indexPrice"]),
                    "estimated_settle_price": float(r["estimatedSettlePrice"]),
                    "last_funding_rate": float(r["lastFundingRate"]),
                    "interest_rate": float(r["interestRate"]),
                    "next_funding_time": int(r["nextFundingTime"]),
                }
            ]
        )

    def _ranged(
        self,
        method: str,
        params: dict,
        start_ms: int,
        end_ms: int,
        limit: int,
        to_row: Callable[[object], dict],
        time_column: str,
    ) -> pd.DataFrame:
        """Every row of a time-ranged endpoint stamped in [start, end], as warehouse rows.
        Pages follow each other from the newest row seen, whatever order the rows came in;
        rows outside the range (a server may add some) are dropped."""
        rows: list[dict] = []
        first = start_ms
        while start_ms <= end_ms:
            page = [
                to_row(r)
                for r in self.get(
                    method, {**params, "startTime": start_ms, "endTime": end_ms, "limit": limit}
                )
            ]
            rows += page
            newest = max((r[time_column] for r in page), default=start_ms - 1)
            if len(page) < limit or newest < start_ms:
                break
            start_ms = newest + 1
        frame = pd.DataFrame(rows)
        if frame.empty:
            return frame
        return frame[frame[time_column].between(first, end_ms)].reset_index(drop=True)
