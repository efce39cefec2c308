"""/healthz: for a monitor, without a login: the database, the served snapshot's age, the job
queue and the live feeds; 200 when all hold, 503 when one does not, and nothing private."""

from __future__ import annotations

import time

import pytest
from django.utils import timezone
from django_q.tasks import async_task

from heatmaps.feeds import Feed

pytestmark = pytest.mark.django_db


def test_an_outsider_gets_200_and_every_check_when_all_is_well(served, client):
    response = client.get("/healthz")
    assert response.status_code == 200
    body = response.json()
    assert body["status"] == "ok"
    assert body["database"] == {"ok": True}
    assert body["warehouse"]["ok"] and 0 <= body["warehouse"]["age_seconds"] < 3600
    assert body["queue"] == {
        "ok": True,
        "queued": 0,
        "oldest_age_seconds": None,
        "failed_last_hour": 0,
    }
    assert body["feeds"] == {"ok": True, "count": 0, "stale": []}
    assert "no-cache" in response.headers["Cache-Control"]


def test_no_snapshot_yet_is_503(client, settings, tmp_path):
    settings.SERVING_PATH = tmp_path / "nothing-published"
    response = client.get("/healthz")
    assert response.status_code == 503
    assert response.json()["warehouse"] == {"ok": False, "published_at": None, "age_seconds": None}


def test_a_snapshot_older_than_allowed_is_503(served, client, settings):
    settings.HEALTHZ_SNAPSHOT_MAX_AGE = 0
    response = client.get("/healthz")
    assert response.status_code == 503 and response.json()["status"] == "failing"
    assert not response.json()["warehouse"]["ok"]


def test_a_job_waiting_too_long_is_503(served, client, settings):
    settings.HEALTHZ_QUEUE_MAX_AGE = 0
    async_task("heatmaps.tasks.calculate_recent", "BTCUSDT")
    time.sleep(1.1)
    queue = client.get("/healthz").json()["queue"]
    assert queue["queued"] == 1 and queue["oldest_age_seconds"] >= 1 and not queue["ok"]


def test_a_job_a_worker_holds_is_running_not_waiting(served, client, settings):
    from datetime import timedelta

    from django_q.models import OrmQ

    settings.HEALTHZ_QUEUE_MAX_AGE = 0
    async_task("heatmaps.tasks.calculate_recent", "BTCUSDT")
    OrmQ.objects.update(lock=timezone.now() + timedelta(hours=1))  # as a worker's claim does
    time.sleep(1.1)
    response = client.get("/healthz")
    assert response.status_code == 200 and response.json()["queue"]["queued"] == 0


def test_a_stale_feed_is_503_and_named_without_its_error(served, client):
    Feed.beat("BTCUSDT", "klines:1m", "rest", last_row_ms=0, error="https://key@host/ refused")
    Feed.objects.update(heartbeat_at=timezone.now())
    response = client.get("/healthz")
    assert response.status_code == 503
    assert response.json()["feeds"] == {"ok": False, "count": 1, "stale": ["BTCUSDT klines:1m"]}
    body = response.content.decode()
    assert "refused" not in body and "key@host" not in body and "pid" not in body


def test_it_only_answers_get(client):
    assert client.post("/healthz").status_code == 405
