"""The client against a real HTTP server on loopback that answers what liqmap can: a signal,
401, 429 with Retry-After, 503 with Retry-After, and a port where nothing listens."""

import http.server
import json
import socket
import threading
import time
from datetime import UTC, datetime

import pytest

from liqmap_nautilus.client import LiqmapClient

SIGNAL = {"action": "AVOID", "reason": "Liquidation cluster at $42,100", "confidence": 0.8}


class Log:
    def __init__(self):
        self.lines = []

    def info(self, message):
        self.lines.append(("info", message))

    def warning(self, message):
        self.lines.append(("warning", message))

    def error(self, message):
        self.lines.append(("error", message))


class Script(http.server.BaseHTTPRequestHandler):
    """Answers each request with the next (status, headers, body) of the server's script."""

    def do_GET(self):
        self.server.seen.append((self.path, self.headers.get("Authorization")))
        status, headers, body = self.server.script.pop(0)
        self.send_response(status)
        for name, value in headers.items():
            self.send_header(name, value)
        self.end_headers()
        self.wfile.write(body)

    def log_message(self, *args):
        pass


@pytest.fixture
def server():
    httpd = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Script)
    httpd.script, httpd.seen = [], []
    thread = threading.Thread(target=httpd.serve_forever, args=(0.05,), daemon=True)
    thread.start()
    yield httpd
    httpd.shutdown()
    httpd.server_close()


def client_for(server, log, **kwargs):
    url = f"http://127.0.0.1:{server.server_address[1]}"
    return LiqmapClient(url, "secret-token", log=log, backoff=0.05, **kwargs)


def ok(payload=SIGNAL):
    return 200, {"Content-Type": "application/json"}, json.dumps(payload).encode()


def test_it_sends_the_token_and_at_the_simulated_time(server):
    server.script = [ok()]
    outcome = client_for(server, Log()).signal("BTCUSDT", at=datetime(2024, 1, 5, 13, tzinfo=UTC))
    assert outcome.signal["action"] == "AVOID"
    path, auth = server.seen[0]
    assert auth == "Token secret-token"
    assert "at=2024-01-05T13%3A00%3A00Z" in path and "symbol=BTCUSDT" in path


def test_live_requests_carry_no_at(server):
    server.script = [ok()]
    client_for(server, Log()).signal("BTCUSDT")
    assert "at=" not in server.seen[0][0]


def test_a_refused_token_is_an_error_and_no_signal_without_retrying(server):
    server.script = [(401, {}, b'{"detail":"Invalid token."}')]
    log = Log()
    outcome = client_for(server, log).signal("BTCUSDT")
    assert outcome.signal is None and outcome.error == "HTTP 401"
    assert len(server.seen) == 1
    assert any(level == "error" and "token" in line for level, line in log.lines)


def test_it_waits_as_long_as_retry_after_says_on_429(server):
    server.script = [(429, {"Retry-After": "1"}, b"{}"), ok()]
    log = Log()
    started = time.monotonic()
    outcome = client_for(server, log).signal("BTCUSDT")
    assert outcome.signal is not None and outcome.attempts == 2
    assert time.monotonic() - started >= 1.0
    assert any(level == "warning" and "HTTP 429" in line for level, line in log.lines)


def test_a_long_retry_after_skips_polls_instead_of_sleeping(server):
    server.script = [(429, {"Retry-After": "120"}, b"{}")]
    client = client_for(server, Log(), max_wait=5)
    started = time.monotonic()
    assert client.signal("BTCUSDT").signal is None
    second = client.signal("BTCUSDT")  # within the 120 s: not sent at all
    assert second.signal is None and "backing off" in second.error
    # it did not sleep out the 120 s (nor the 5 s it may wait): the bound only rules that out
    assert len(server.seen) == 1 and time.monotonic() - started < 60


def test_503_is_retried_with_retry_after_then_answers(server):
    server.script = [(503, {"Retry-After": "0"}, b"{}")] * 2 + [ok()]
    outcome = client_for(server, Log()).signal("BTCUSDT")
    assert outcome.signal is not None and outcome.attempts == 3


def test_503_every_time_ends_in_no_signal_after_the_retries(server):
    server.script = [(503, {"Retry-After": "0"}, b"{}")] * 4
    log = Log()
    outcome = client_for(server, log, retries=3).signal("BTCUSDT")
    assert outcome.signal is None and len(server.seen) == 4
    assert log.lines[-1][0] == "error" and "WAIT" in log.lines[-1][1]


def test_a_closed_port_backs_off_exponentially_and_gives_no_signal():
    with socket.socket() as sock:  # a port that was free a moment ago: nothing listens there
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
    sleeps = []
    log = Log()
    client = LiqmapClient(
        f"http://127.0.0.1:{port}", "t", log=log, backoff=0.5, retries=3, sleep=sleeps.append
    )
    outcome = client.signal("BTCUSDT")
    assert outcome.signal is None and "network error" in outcome.error
    assert sleeps == [0.5, 1.0, 2.0]


def test_an_answer_that_is_not_a_signal_is_no_signal(server):
    server.script = [ok({"action": "BUY EVERYTHING"})]
    log = Log()
    assert client_for(server, log).signal("BTCUSDT").signal is None
    assert log.lines[-1][0] == "error"


def test_a_slow_server_times_out_into_no_signal(server):
    class Slow(Script):
        def do_GET(self):
            time.sleep(1.0)

    server.RequestHandlerClass = Slow
    client = client_for(server, Log(), timeout=0.2, retries=0)
    assert "network error" in client.signal("BTCUSDT").error
