"""fetch_brackets: Binance's signed leverage-bracket endpoint, played by a loopback server that
checks the key, the timestamp and the HMAC-SHA256 signature the way Binance does."""

from __future__ import annotations

import hashlib
import hmac
import http.server
import json
import threading
import time
from io import StringIO
from urllib.parse import parse_qs, urlsplit

import pytest
from django.core.management import call_command
from django.core.management.base import CommandError

from heatmaps.models import MarginBrackets

KEY, SECRET = "test-key", "test-secret"
RECV_WINDOW_MS = 5_000
# the shape of Binance's answer (developers.binance.com, "Notional and Leverage Brackets")
ETH_BRACKETS = [
    {
        "bracket": 1,
        "initialLeverage": 125,
        "notionalCap": 50000,
        "notionalFloor": 0,
        "maintMarginRatio": 0.004,
        "cum": 0.0,
    },
    {
        "bracket": 2,
        "initialLeverage": 100,
        "notionalCap": 600000,
        "notionalFloor": 50000,
        "maintMarginRatio": 0.005,
        "cum": 50.0,
    },
    {
        "bracket": 3,
        "initialLeverage": 75,
        "notionalCap": 3000000,
        "notionalFloor": 600000,
        "maintMarginRatio": 0.0065,
        "cum": 950.0,
    },
]


class _Binance(http.server.BaseHTTPRequestHandler):
    def do_GET(self):
        parts = urlsplit(self.path)
        query, _, signature = parts.query.rpartition("&signature=")
        params = {k: v[0] for k, v in parse_qs(query).items()}
        self.server.seen.append({"path": parts.path, "params": params, "headers": self.headers})
        if parts.path != "/fapi/v1/leverageBracket":
            return self._answer(404, {"code": -5000, "msg": "Path not found"})
        if self.headers.get("X-MBX-APIKEY") != KEY:
            return self._answer(401, {"code": -2015, "msg": "Invalid API-key, IP, or permissions."})
        expected = hmac.new(SECRET.encode(), query.encode(), hashlib.sha256).hexdigest()
        if not hmac.compare_digest(signature, expected):
            return self._answer(
                400, {"code": -1022, "msg": "Signature for this request is not valid."}
            )
        if abs(time.time() * 1000 - int(params.get("timestamp", 0))) > RECV_WINDOW_MS:
            return self._answer(
                400,
                {"code": -1021, "msg": "Timestamp for this request is outside of the recvWindow."},
            )
        symbol = params.get("symbol")
        if symbol not in self.server.tables:
            return self._answer(400, {"code": -1121, "msg": "Invalid symbol."})
        self._answer(200, [{"symbol": symbol, "brackets": self.server.tables[symbol]}])

    def _answer(self, status: int, body) -> None:
        data = json.dumps(body).encode()
        self.send_response(status)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(data)))
        self.end_headers()
        self.wfile.write(data)

    def log_message(self, *args):
        pass


@pytest.fixture
def binance(settings):
    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), _Binance)
    server.seen, server.tables = [], {"ETHUSDT": ETH_BRACKETS}
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    settings.BINANCE_FAPI_URL = f"http://127.0.0.1:{server.server_address[1]}"
    settings.BINANCE_API_KEY, settings.BINANCE_API_SECRET = KEY, SECRET
    try:
        yield server
    finally:
        server.shutdown()
        server.server_close()


def fetch(symbol: str = "ETHUSDT") -> str:
    out = StringIO()
    call_command("fetch_brackets", "--symbol", symbol, stdout=out)
    return out.getvalue()


@pytest.mark.django_db
def test_it_stores_binances_table_as_a_new_version_in_force_from_now(binance):
    before = MarginBrackets.history("ETHUSDT")
    out = fetch("ethusdt")
    assert "ETHUSDT: stored 3 brackets" in out and "125x, maintenance 0.4 %" in out
    (request,) = binance.seen
    assert request["params"]["symbol"] == "ETHUSDT" and "timestamp" in request["params"]
    row = MarginBrackets.objects.get()
    assert row.rows[1] == {
        "floor": 50_000.0,
        "cap": 600_000.0,
        "max_leverage": 100,
        "mmr": 0.005,
        "cum": 50.0,
    }
    after = MarginBrackets.history("ETHUSDT")
    assert after["effective_from"].nunique() == before["effective_from"].nunique() + 1
    assert after["effective_from"].max() == int(row.effective_from.timestamp() * 1000)


@pytest.mark.django_db
def test_the_same_table_fetched_again_is_not_stored_twice(binance):
    fetch()
    out = fetch()
    assert "unchanged" in out
    assert MarginBrackets.objects.count() == 1 and len(binance.seen) == 2


@pytest.mark.django_db
def test_a_wrong_secret_is_refused_with_binances_words(binance, settings):
    settings.BINANCE_API_SECRET = "not-the-secret"
    with pytest.raises(CommandError, match="400: Signature for this request is not valid"):
        fetch()
    assert not MarginBrackets.objects.exists()


@pytest.mark.django_db
def test_a_symbol_binance_does_not_know_is_refused(binance):
    with pytest.raises(CommandError, match="Invalid symbol"):
        fetch("NOPEUSDT")


@pytest.mark.django_db
def test_without_a_key_it_says_which_settings_to_set(settings):
    settings.BINANCE_API_KEY = ""
    with pytest.raises(CommandError, match="BINANCE_API_KEY and BINANCE_API_SECRET"):
        fetch()


@pytest.mark.django_db
def test_a_fetched_table_gives_a_symbol_without_a_shipped_one_its_brackets(binance):
    binance.tables["XRPUSDT"] = ETH_BRACKETS
    with pytest.raises(ValueError, match="fetch_brackets --symbol XRPUSDT"):
        MarginBrackets.history("XRPUSDT")
    fetch("XRPUSDT")
    assert len(MarginBrackets.history("XRPUSDT")) == 3
