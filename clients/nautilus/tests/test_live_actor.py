"""The actor live (a TradingNode with no exchange): it polls without at= from Nautilus's
executor thread, and what it publishes reaches a subscriber on the event loop; a refused
token becomes a WAIT. The Binance node itself is only built (trading needs the exchange)."""

import asyncio
import http.server
import json
import os
import subprocess
import sys
import threading
from pathlib import Path

import pytest
from nautilus_trader.common.actor import Actor
from nautilus_trader.config import LoggingConfig, TradingNodeConfig
from nautilus_trader.live.node import TradingNode
from nautilus_trader.model.identifiers import TraderId

from liqmap_nautilus.actor import LiqmapSignalActor, LiqmapSignalActorConfig
from liqmap_nautilus.data import signal_data_type

CLIENT = Path(__file__).resolve().parent.parent


class Answers(http.server.BaseHTTPRequestHandler):
    def do_GET(self):
        self.server.seen.append(self.path)
        status, payload = self.server.answer
        self.send_response(status)
        self.send_header("Content-Type", "application/json")
        self.end_headers()
        self.wfile.write(json.dumps(payload).encode())

    def log_message(self, *args):
        pass


class Recorder(Actor):
    def __init__(self):
        super().__init__()
        self.got = []

    def on_start(self):
        self.subscribe_data(signal_data_type("BTCUSDT"))

    def on_data(self, data):
        self.got.append(data)

    def on_stop(self):
        pass


@pytest.fixture
def server():
    httpd = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Answers)
    httpd.seen = []
    threading.Thread(target=httpd.serve_forever, args=(0.05,), daemon=True).start()
    yield httpd
    httpd.shutdown()
    httpd.server_close()


def run_node(server, seconds=2.5) -> list:
    node = TradingNode(
        TradingNodeConfig(
            trader_id=TraderId("TEST-001"),
            logging=LoggingConfig(log_level="ERROR"),
            timeout_disconnection=0.5,
            timeout_post_stop=0.5,
        ),
        loop=asyncio.new_event_loop(),  # a node closes its loop when disposed
    )
    url = f"http://127.0.0.1:{server.server_address[1]}"
    config = LiqmapSignalActorConfig(base_url=url, token="t", interval_secs=1, retries=0)
    node.trader.add_actor(LiqmapSignalActor(config))
    recorder = Recorder()
    node.trader.add_actor(recorder)
    node.build()
    node.get_event_loop().call_later(seconds, node.stop)
    try:
        node.run()
    finally:
        node.dispose()
    return recorder.got


def test_live_it_polls_the_latest_signal_and_publishes_it(server):
    server.answer = (200, {"action": "AVOID", "reason": "cluster", "confidence": 0.9})
    got = run_node(server)
    assert len(got) >= 2
    assert {(s.action, s.source) for s in got} == {("AVOID", "server")}
    assert server.seen and not any("at=" in path for path in server.seen)


def test_live_a_refused_token_publishes_wait(server):
    server.answer = (401, {"detail": "Invalid token."})
    got = run_node(server)
    assert got and {(s.action, s.source) for s in got} == {("WAIT", "client")}
    assert "HTTP 401" in got[0].reason


def test_the_binance_node_builds_without_connecting():
    env = {**os.environ, "BINANCE_API_KEY": "unused", "BINANCE_API_SECRET": "unused"}
    done = subprocess.run(
        [sys.executable, "-m", "liqmap_nautilus.live", "--token", "t", "--dry-run"],
        cwd=CLIENT,
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert done.returncode == 0, done.stderr[-2000:]
    assert "built LIQMAP-LIVE-001: LiqmapSignalActor, LiqmapTrend-000" in done.stdout
