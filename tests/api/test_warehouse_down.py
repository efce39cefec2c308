"""When the warehouse cannot be read: retries with backoff, a logged traceback, then 503."""

import time

import pytest
import structlog

pytestmark = pytest.mark.django_db


def test_a_broken_snapshot_gets_503_with_retry_after_after_the_retries(
    served, clients, settings, tmp_path
):
    from heatmaps import warehouse

    serving = tmp_path / "serving"
    (serving / "BTCUSDT").mkdir(parents=True)
    (serving / "BTCUSDT" / "snapshot-broken.duckdb").write_bytes(b"not a DuckDB file" * 100)
    (serving / "BTCUSDT" / "current").write_text("snapshot-broken.duckdb")
    settings.SERVING_PATH = serving
    settings.WAREHOUSE_RETRY_DELAYS = [0.05, 0.15, 0.45]

    started = time.monotonic()
    with structlog.testing.capture_logs() as logs:
        response = clients["bot"].get("/api/v1/liquidations/levels")
    elapsed = time.monotonic() - started

    assert response.status_code == 503
    assert response["Retry-After"] == "30"
    assert "retry" in response.json()["detail"]
    assert elapsed >= 0.05 + 0.15 + 0.45  # it waited through every backoff step
    retries = [e for e in logs if e["event"] == "warehouse_read_retry"]
    failure = [e for e in logs if e["event"] == "warehouse_read_failed"]
    assert [e["attempt"] for e in retries] == [1, 2, 3]
    assert failure and failure[0]["attempts"] == 4 and failure[0]["exc_info"]
    # once a good snapshot is published again, the API answers
    settings.SERVING_PATH = served[1]
    with warehouse.connect("BTCUSDT") as con:
        warehouse.publish(con, "BTCUSDT")
    assert clients["bot"].get("/api/v1/liquidations/levels").status_code == 200


def test_an_empty_warehouse_is_not_an_error(clients, settings, tmp_path):
    settings.SERVING_PATH = tmp_path / "nothing-published"
    response = clients["bot"].get("/api/v1/liquidations/heatmap")
    assert response.status_code == 400
    assert "none yet: run ingest and calculate" in response.json()["symbol"][0]
