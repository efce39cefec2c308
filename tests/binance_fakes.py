"""Loopback servers speaking Binance's USDⓈ-M REST and WebSocket shapes (from its public API
documentation), replaying the bundled sample: what ``follow`` and ``record_liquidations`` talk
to in tests.
"""

from __future__ import annotations

import contextlib
import csv
import io
import json
import threading
import zipfile
from datetime import UTC, datetime
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from urllib.parse import parse_qs, urlparse

from websockets.sync.server import serve

from heatmaps.binance.writer import relpath

SYMBOL = "BTCUSDT"
DAYS = [f"2024-01-{d:02d}" for d in range(1, 11)]
END = int(datetime(2024, 1, 11, tzinfo=UTC).timestamp() * 1000)  # the sample's end: "now"


def _rows(root: Path, dataset: str, period: str, interval: str | None = None) -> list[dict]:
    path = root / relpath(dataset, SYMBOL, period, interval)
    with zipfile.ZipFile(path.with_suffix(".zip")) as archive:
        text = archive.read(archive.namelist()[0]).decode()
    return list(csv.DictReader(io.StringIO(text)))


def _ms(text: str) -> int:
    return int(datetime.fromisoformat(text).replace(tzinfo=UTC).timestamp() * 1000)


class FakeBinance:
    """The sample's days as Binance's REST API would answer them at ``now_ms``.

    ``fail_next``: (status, headers) answers given before any real one, e.g. a 429 with
    Retry-After; ``messy``: pages come newest first, with a repeated row and one row from
    before ``startTime``. ``requests`` logs (path, params) of every request."""

    def __init__(self, sample: Path, days: list[str], now_ms: int):
        self.now_ms = now_ms
        self.fail_next: list[tuple[int, dict]] = []
        self.messy = False
        self.requests: list[tuple[str, dict]] = []
        self.klines = {i: [] for i in ("1m", "5m")}
        self.mark: list[list] = []
        self.open_interest: list[dict] = []
        self.accounts: list[dict] = []
        for day in days:
            for interval in ("1m", "5m"):
                self.klines[interval] += [_kline(r) for r in _rows(sample, "klines", day, interval)]
            self.mark += [_kline(r) for r in _rows(sample, "markPriceKlines", day, "1m")]
            self.open_interest += [
                {
                    "symbol": SYMBOL,
                    "sumOpenInterest": r["sum_open_interest"],
                    "sumOpenInterestValue": r["sum_open_interest_value"],
                    "timestamp": _ms(r["create_time"]),
                }
                for r in _rows(sample, "metrics", day)
            ]
            self.accounts += [
                {
                    "symbol": SYMBOL,
                    "longShortRatio": r["count_long_short_ratio"],
                    "longAccount": "0.5",
                    "shortAccount": "0.5",
                    "timestamp": _ms(r["create_time"]),
                }
                for r in _rows(sample, "metrics", day)
            ]
        self.funding = [
            {
                "symbol": SYMBOL,
                "fundingTime": int(r["calc_time"]),
                "fundingRate": r["last_funding_rate"],
                "markPrice": "0",
            }
            for r in _rows(sample, "fundingRate", days[0][:7])
        ]

    def answer(self, path: str, params: dict) -> tuple[int, dict, object]:
        self.requests.append((path, params))
        if self.fail_next:
            status, headers = self.fail_next.pop(0)
            return status, headers, {"code": -1003, "msg": "Too many requests; try again later."}
        if path == "/fapi/v1/premiumIndex":
            last = [k for k in self.mark if k[0] <= self.now_ms][-1]
            return 200, {}, _premium(last, self.now_ms)
        table, time_of = {
            "/fapi/v1/klines": (self.klines.get(params.get("interval")), lambda r: r[0]),
            "/fapi/v1/markPriceKlines": (self.mark, lambda r: r[0]),
            "/futures/data/openInterestHist": (self.open_interest, lambda r: r["timestamp"]),
            "/futures/data/globalLongShortAccountRatio": (self.accounts, lambda r: r["timestamp"]),
            "/fapi/v1/fundingRate": (self.funding, lambda r: r["fundingTime"]),
        }.get(path, (None, None))
        if table is None:
            return 400, {}, {"code": -1121, "msg": "Invalid symbol."}
        start, end = int(params.get("startTime", 0)), int(params.get("endTime", 1 << 62))
        limit = int(params.get("limit", 500))
        page = [r for r in table if start <= time_of(r) <= min(end, self.now_ms)][:limit]
        if self.messy and page:
            earlier = [r for r in table if time_of(r) < start][-1:]
            page = [*reversed(page), page[0], *earlier]
        return 200, {}, page


def _kline(r: dict) -> list:
    return [
        int(r["open_time"]),
        r["open"],
        r["high"],
        r["low"],
        r["close"],
        r["volume"],
        int(r["close_time"]),
        r["quote_volume"],
        int(r["count"]),
        r["taker_buy_volume"],
        r["taker_buy_quote_volume"],
        "0",
    ]


def _premium(mark: list, now_ms: int) -> dict:
    return {
        "symbol": SYMBOL,
        "markPrice": mark[4],
        "indexPrice": mark[4],
        "estimatedSettlePrice": mark[4],
        "lastFundingRate": "0.00010000",
        "interestRate": "0.00010000",
        "nextFundingTime": (now_ms // 28_800_000 + 1) * 28_800_000,
        "time": now_ms,
    }


def rest_server(fake: FakeBinance):
    """A real HTTP server on 127.0.0.1 answering as ``fake`` says; returns (server, url)."""

    class Handler(BaseHTTPRequestHandler):
        def do_GET(self):
            url = urlparse(self.path)
            params = {k: v[0] for k, v in parse_qs(url.query).items()}
            status, headers, body = fake.answer(url.path, params)
            blob = json.dumps(body).encode()
            self.send_response(status)
            self.send_header("Content-Type", "application/json")
            self.send_header("Content-Length", str(len(blob)))
            self.send_header("X-MBX-USED-WEIGHT-1m", str(len(fake.requests)))
            for name, value in headers.items():
                self.send_header(name, value)
            self.end_headers()
            self.wfile.write(blob)

        def log_message(self, *args):
            pass

    server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    return server, f"http://127.0.0.1:{server.server_address[1]}"


def force_order(symbol: str, trade_ms: int, side: str, price: str, qty: str) -> dict:
    """A combined-stream forceOrder event, as Binance sends it."""
    return {
        "stream": f"{symbol.lower()}@forceOrder",
        "data": {
            "e": "forceOrder",
            "E": trade_ms + 3,
            "o": {
                "s": symbol,
                "S": side,
                "o": "LIMIT",
                "f": "IOC",
                "q": qty,
                "p": price,
                "ap": price,
                "X": "FILLED",
                "l": qty,
                "z": qty,
                "T": trade_ms,
            },
        },
    }


class DroppingStream:
    """A WebSocket server on 127.0.0.1 that sends ``events`` and drops the first connection
    after ``drop_after`` of them without a close frame; the next connection gets the last
    ``resend`` events again, then the rest. ``done`` is set once every event was sent."""

    def __init__(self, events: list[dict], drop_after: int, resend: int):
        self.events, self.drop_after, self.resend = events, drop_after, resend
        self.connections, self.paths = 0, []
        self.done = threading.Event()
        self.server = serve(self._handle, "127.0.0.1", 0)
        threading.Thread(target=self.server.serve_forever, daemon=True).start()
        self.url = f"ws://127.0.0.1:{self.server.socket.getsockname()[1]}"

    def _handle(self, ws) -> None:
        self.connections += 1
        self.paths.append(ws.request.path)
        if self.connections == 1:
            for event in self.events[: self.drop_after]:
                ws.send(json.dumps(event))
            ws.socket.close()  # the connection drops: no close frame
            return
        for event in self.events[self.drop_after - self.resend :]:
            ws.send(json.dumps(event))
        self.done.set()
        with contextlib.suppress(Exception):
            ws.recv()  # hold the connection until the client leaves

    def close(self) -> None:
        self.server.shutdown()
