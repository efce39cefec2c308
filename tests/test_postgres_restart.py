"""PostgreSQL restarted while bots poll the API: the requests made while it is down get a 503
with Retry-After (no hang, no server error), and once it is back every request succeeds again
without restarting the web server (Django checks a kept connection before using it)."""

from __future__ import annotations

import http.client
import os
import re
import secrets
import subprocess
import sys
import threading
import time

import pytest

from bench.harness import gunicorn_command, start_server, stop_server, wait_ready
from bench.servers import free_port

from .conftest import REPO

pytestmark = [pytest.mark.slow, pytest.mark.django_db]
CLIENTS = 8
SIGNALS = "/api/v1/trading/signals?symbol=BTCUSDT"


def poll(port: int, token: str, stop: threading.Event, seen: list) -> None:
    """Ask the signals endpoint until ``stop``: (time, status; 0 when no answer) each time."""
    conn = http.client.HTTPConnection("127.0.0.1", port, timeout=20)
    while not stop.is_set():
        try:
            conn.request("GET", SIGNALS, headers={"Authorization": f"Token {token}"})
            response = conn.getresponse()
            response.read()
            status = response.status
        except (OSError, http.client.HTTPException):
            status = 0
            conn.close()
        seen.append((time.monotonic(), status))
        time.sleep(0.02)
    conn.close()


def test_the_api_recovers_by_itself_when_postgres_restarts_under_load(
    postgres, sample_served, tmp_path
):
    env = {
        **os.environ,
        "SECRET_KEY": secrets.token_urlsafe(50),
        "DEBUG": "false",
        "HTTPS": "false",
        "ALLOWED_HOSTS": "127.0.0.1",
        "LOG_LEVEL": "WARNING",
        "DATABASE_URL": postgres.database("restart"),
        "DUCKDB_PATH": str(sample_served[0]),
        "SERVING_PATH": str(sample_served[1]),
        "CACHE_URL": f"filecache://{tmp_path / 'cache'}",
        "API_THROTTLE_RATE": "100000/min",
    }
    manage = [sys.executable, "manage.py"]
    subprocess.run([*manage, "migrate", "-v0"], cwd=REPO, env=env, check=True)
    printed = subprocess.run(
        [*manage, "demo_user"], cwd=REPO, env=env, check=True, capture_output=True, text=True
    ).stdout
    token = re.search(r"API token\s+(\S+)", printed).group(1)
    port, log = free_port(), tmp_path / "gunicorn.log"
    server = start_server(gunicorn_command(port), env, log)
    stop, seen = threading.Event(), []
    threads = [
        threading.Thread(target=poll, args=(port, token, stop, seen)) for _ in range(CLIENTS)
    ]
    try:
        wait_ready(server, port, log, SIGNALS, token)
        for thread in threads:
            thread.start()
        time.sleep(2)
        down = time.monotonic()
        postgres.stop()
        time.sleep(2)
        postgres.start()
        up = time.monotonic()
        time.sleep(4)
    finally:
        stop.set()
        for thread in threads:
            thread.join(timeout=30)
        stop_server(server)

    before = [s for t, s in seen if t < down]
    during = [s for t, s in seen if down <= t < up + 1]  # a second to reconnect
    after = [s for t, s in seen if t >= up + 1]
    assert before and set(before) == {200}
    # while it is down: a 503 with Retry-After (wait and ask again), never a hang or a 500
    assert during and 503 in during, "the database was never seen down"
    assert set(during) <= {200, 503}, {s: during.count(s) for s in set(during)}
    assert after and set(after) == {200}, sorted(set(after))
