"""Recording the forceOrder stream against a loopback WebSocket server that drops the
connection mid-stream and resends its last events after the reconnection."""

from __future__ import annotations

import json
import time
from datetime import date

import pandas as pd
import pytest

from heatmaps import warehouse
from heatmaps.binance.stream import liquidation_row
from heatmaps.feeds import STREAM_UNDERCOUNT, Feed
from live.recorder import record_liquidations

from .binance_fakes import DroppingStream, force_order

pytestmark = pytest.mark.django_db

T0 = 1_704_844_800_000  # 2024-01-10 00:00 UTC
EVENTS = [
    force_order("BTCUSDT", T0 + i * 1000, "SELL" if i % 2 else "BUY", f"{46000 + i}.5", "0.25")
    for i in range(8)
]


@pytest.fixture
def stream(settings, tmp_path, warehouse_path):
    settings.SERVING_PATH = tmp_path / "serving"
    server = DroppingStream(EVENTS, drop_after=5, resend=2)
    yield server
    server.close()


def _until_sent(server: DroppingStream, linger: float = 1.0):
    """stop() for the recorder: once the server sent everything, and ``linger`` s more."""
    sent_at = []

    def stop() -> bool:
        if server.done.is_set() and not sent_at:
            sent_at.append(time.monotonic())
        return bool(sent_at) and time.monotonic() - sent_at[0] > linger

    return stop


def _stored() -> list[tuple]:
    with warehouse.connect("BTCUSDT") as con:
        return con.execute(
            "SELECT epoch_ms(timestamp), side, price, quantity, source, file_id "
            "FROM liquidation_history ORDER BY timestamp"
        ).fetchall()


def _record(server: DroppingStream) -> dict:
    """Record from ``server`` until it sent everything, flushing and reconnecting quickly."""
    return record_liquidations(
        ["BTCUSDT"], url=server.url, stop=_until_sent(server), flush_seconds=0.2, backoff=(0.1, 1)
    )


def test_a_dropped_connection_reconnects_without_losing_or_doubling_a_row(stream):
    summary = _record(stream)

    assert stream.connections == 2
    assert stream.paths[0] == "/stream?streams=btcusdt@forceOrder"
    assert summary == {"added": 8, "reconnects": 1}
    rows = _stored()
    assert [r[0] for r in rows] == [T0 + i * 1000 for i in range(8)]
    assert {(r[4], r[5]) for r in rows} == {("stream", None)}
    assert rows[1][1:4] == ("long", 46001.5, 0.25)  # SELL: a long was liquidated
    feed = Feed.objects.get(symbol="BTCUSDT", stream="forceOrder")
    assert feed.source == "stream" and feed.rows == 8
    assert feed.status == Feed.Status.STOPPED
    assert feed.last_row_at.timestamp() * 1000 == T0 + 7000


def test_recording_the_same_events_again_adds_nothing(stream):
    _record(stream)
    again = DroppingStream(EVENTS, drop_after=8, resend=8)
    try:
        summary = _record(again)
    finally:
        again.close()
    assert summary["added"] == 0
    assert len(_stored()) == 8


def test_the_recorder_says_at_start_that_the_stream_undercounts(stream, caplog):
    from live.management.commands.record_liquidations import Command

    record_liquidations(["BTCUSDT"], url=stream.url, stop=lambda: True)

    assert "at most one liquidation per symbol per second" in STREAM_UNDERCOUNT
    assert "liquidation_stream_undercounts" in caplog.text and "undercount" in caplog.text
    assert STREAM_UNDERCOUNT in Command.help
    assert Feed.objects.get(stream="forceOrder").status == Feed.Status.STOPPED


def test_anything_but_a_force_order_is_not_a_liquidation():
    assert liquidation_row({"result": None, "id": 1}) is None
    assert liquidation_row({"stream": "x", "data": {"e": "aggTrade"}}) is None
    row = liquidation_row(EVENTS[0]["data"])
    assert row["side"] == "short" and row["timestamp"] == T0


def test_the_command_runs_until_sigterm_and_writes_what_it_holds(tmp_path):
    import os
    import signal
    import sqlite3

    from .test_ingest_killed import manage

    server = DroppingStream(EVENTS, drop_after=5, resend=2)
    env = {
        **os.environ,
        "DUCKDB_PATH": str(tmp_path / "wh.duckdb"),
        "SERVING_PATH": str(tmp_path / "serving"),
        "DATABASE_URL": f"sqlite:///{tmp_path / 'db.sqlite3'}",
        "BINANCE_WS_URL": server.url,
    }
    try:
        assert manage(env, "migrate", "-v0").wait(timeout=120) == 0
        process = manage(env, "record_liquidations", "--symbols", "BTCUSDT")
        assert server.done.wait(timeout=60)
        time.sleep(0.5)
        process.send_signal(signal.SIGTERM)
        out, err = process.communicate(timeout=30)
    finally:
        server.close()
    assert process.returncode == 0, err
    assert "recorded 8 liquidations" in out
    assert STREAM_UNDERCOUNT in err
    with warehouse.connect("BTCUSDT", path=tmp_path / "wh-BTCUSDT.duckdb") as con:
        stored = con.execute("SELECT count(*) FROM liquidation_history").fetchone()[0]
    assert stored == 8
    with sqlite3.connect(tmp_path / "db.sqlite3") as db:
        status = db.execute("SELECT status, rows FROM heatmaps_feed").fetchall()
    assert status == [("stopped", 8)]


def test_the_archive_file_of_a_day_supersedes_that_days_stream_rows(stream, tmp_path):
    from heatmaps import tasks

    from .conftest import SAMPLE

    next_day = force_order("BTCUSDT", T0 + 86_400_000 + 5000, "BUY", "47000.5", "0.1")
    with warehouse.connect("BTCUSDT") as con:
        stream_rows = [liquidation_row(e) for e in [*EVENTS, next_day]]
        warehouse.insert_rows(con, "liquidation_history", pd.DataFrame(stream_rows), "stream")

    tasks.ingest(
        "BTCUSDT",
        date(2024, 1, 10),
        date(2024, 1, 10),
        source=SAMPLE,
        datasets="liquidationSnapshot",
    )

    with warehouse.connect("BTCUSDT") as con:
        counts = warehouse.source_counts(con, "liquidation_history", "BTCUSDT")
        archive_rows = con.execute(
            "SELECT rows FROM ingested_files WHERE dataset = 'liquidationSnapshot'"
        ).fetchone()[0]
    assert counts == {"archive": archive_rows, "stream": 1}  # the 11th's row stays


def test_rows_the_warehouse_cannot_take_now_are_kept_and_written_later(stream, settings):
    from heatmaps.warehouse import writer_lock
    from live.recorder import Recorder

    settings.WAREHOUSE_LOCK_TIMEOUT = 0.1
    recorder = Recorder(["BTCUSDT"], flush_seconds=0.1, publish_seconds=0)
    for event in EVENTS[:3]:
        recorder.take(json.dumps(event))
    with writer_lock(warehouse.path_of("BTCUSDT")):  # another writer holds the warehouse
        assert recorder.flush() == 0
    assert len(recorder.buffer) == 3
    assert Feed.objects.get(stream="forceOrder").status == Feed.Status.ERROR
    assert recorder.flush() == 3
    assert recorder.buffer == [] and len(_stored()) == 3
