"""The Nautilus Trader client (clients/nautilus) against a real liqmap: its own environment is
built with uv from its lock file, liqmap serves the calculated sample on loopback, and a
Nautilus ``BacktestEngine`` runs over the sample's 1-minute BTCUSDT bars with the actor polling
it at the simulated times. Nothing is mocked."""

from __future__ import annotations

import json
import os
import re
import shutil
import subprocess
from collections import Counter
from pathlib import Path
from urllib.parse import parse_qs

import pytest
from django.core.signals import request_started

from tests.conftest import REPO, SAMPLE

CLIENT = REPO / "clients" / "nautilus"
BLOCKING = {"AVOID", "WAIT"}
FIGURES = re.compile(
    r"^\s+(unfiltered|filtered)\s+P&L [+-]\d+\.\d\d % .*max drawdown \d+\.\d\d %, (\d+) trades",
    re.M,
)

pytestmark = [pytest.mark.slow, pytest.mark.django_db(transaction=True)]


def uv() -> str:
    # `uv run` (make test) says where it is; a bare pytest finds it on PATH or where the
    # Makefile installs it
    found = os.environ.get("UV") or shutil.which("uv") or str(Path.home() / ".local/bin/uv")
    assert Path(found).exists(), "the Nautilus client's environment needs uv: run `make install`"
    return found


@pytest.fixture(scope="session")
def client_python() -> Path:
    """The client's own environment (nautilus_trader needs pandas < 3, the server has 3),
    exactly as its uv.lock says; a fresh machine downloads it from PyPI once."""
    env = {k: v for k, v in os.environ.items() if k != "VIRTUAL_ENV"}
    subprocess.run(
        [uv(), "sync", "--frozen", "--quiet", "--project", str(CLIENT)],
        env=env,
        check=True,
        timeout=1200,
    )
    return CLIENT / ".venv" / "bin" / "python"


@pytest.fixture
def seen_by_server():
    """The query of every signals request liqmap answered, as the server saw it."""
    seen = []

    def record(sender, environ, **kwargs):
        if environ.get("PATH_INFO") == "/api/v1/trading/signals":
            seen.append(parse_qs(environ.get("QUERY_STRING", "")))

    request_started.connect(record)
    yield seen
    request_started.disconnect(record)


def backtest(python: Path, server: str, token: str, out: Path, *extra: str, end="2024-01-10"):
    command = [
        str(python),
        "-m",
        "liqmap_nautilus.backtest",
        "--archive",
        str(SAMPLE),
        "--symbol",
        "BTCUSDT",
        "--start",
        "2024-01-01",
        "--end",
        end,
        "--server",
        server,
        "--token",
        token,
        "--json",
        str(out),
        *extra,
    ]
    done = subprocess.run(command, capture_output=True, text=True, timeout=600, cwd=CLIENT)
    assert done.returncode == 0, done.stdout[-3000:] + done.stderr[-3000:]
    return done.stdout + done.stderr, json.loads(out.read_text())


def test_the_client_backs_off_and_falls_back_to_wait_on_every_failure(client_python):
    """The client's own tests, in its environment: 401, 429 and 503 with Retry-After, a closed
    port and a timeout against a loopback server; the actor live in a TradingNode; the
    strategy's rules for each action on scripted signals."""
    done = subprocess.run(
        [str(client_python), "-m", "pytest", "-q", "-p", "no:cacheprovider"],
        cwd=CLIENT,
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert done.returncode == 0, done.stdout[-3000:]
    assert re.search(r"\b\d+ passed in\b", done.stdout), done.stdout[-500:]  # none skipped


def test_a_nautilus_backtest_trades_on_the_signals_liqmap_gave_at_each_simulated_hour(
    client_python, served, live_server, bot_token, seen_by_server, tmp_path
):
    output, result = backtest(client_python, live_server.url, bot_token, tmp_path / "run.json")

    # the printed figures, with and without the filter
    printed = dict(FIGURES.findall(output))
    assert set(printed) == {"unfiltered", "filtered"}, output[-2000:]
    for name in ("unfiltered", "filtered"):
        run = result[name]
        assert printed[name] == str(run["trades"])
        assert run["max_drawdown_pct"] >= 0

    # signals arrived at the simulated times: every hour of the 10 days, asked with at= that
    # hour, seen by the server, answered (none fell back to the client's WAIT)
    hours = [f"2024-01-{d:02d}T{h:02d}:00:00Z" for d in range(1, 11) for h in range(24)]
    expected = hours[1:] + ["2024-01-11T00:00:00Z"]  # a bar is stamped when it closes
    asked = Counter(q["at"][0] for q in seen_by_server if "at" in q)
    for name in ("unfiltered", "filtered"):
        run = result[name]
        assert [s["requested_at"] for s in run["signals"]] == expected
        assert run["signals_from_server"] == run["signals_received"] == len(expected)
        # answered as of that hour's snapshot, never a later one (no look-ahead)
        assert all(s["as_of"] == s["requested_at"] for s in run["signals"])
    assert asked == Counter(expected * 2)
    # the answers change with at= (the latest answer alone would be one action for all hours)
    assert len({s["action"] for s in result["filtered"]["signals"]}) > 1

    # the strategy acted on them: each hourly decision read the signal of that very hour, the
    # unfiltered run followed the trend, the filtered one stood aside on AVOID and WAIT
    for name in ("unfiltered", "filtered"):
        decisions = result[name]["decisions"]
        assert len(decisions) == len(expected) - 23  # the 24-hour mean needs a day first
        assert all(d["signal_time"] == d["time"] for d in decisions)
    assert result["unfiltered"]["trades"] > 0
    assert all(d["target"] == d["trend"] for d in result["unfiltered"]["decisions"])
    for d in result["filtered"]["decisions"]:
        assert d["target"] == (0 if d["action"] in BLOCKING else d["trend"]), d
    acted = result["filtered"]["acted"]
    assert acted.get("entry skipped on AVOID", 0) + acted.get("entry skipped on WAIT", 0) > 0
    assert result["filtered"]["pnl_usdt"] != result["unfiltered"]["pnl_usdt"]


def test_with_a_refused_token_there_is_no_signal_so_the_filter_never_enters(
    client_python, served, live_server, tmp_path
):
    output, result = backtest(
        client_python,
        live_server.url,
        "not-a-token",
        tmp_path / "run.json",
        "--retries",
        "0",
        end="2024-01-03",
    )
    assert "refused the token (HTTP 401)" in output  # logged through Nautilus's logger
    filtered, unfiltered = result["filtered"], result["unfiltered"]
    assert filtered["signals_from_server"] == 0
    assert set(filtered["signals_by_action"]) == {"WAIT"}
    assert filtered["trades"] == 0 and filtered["pnl_usdt"] == 0
    assert filtered["acted"]["entry skipped on WAIT"] > 0
    assert unfiltered["trades"] > 0
