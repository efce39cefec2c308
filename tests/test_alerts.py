"""Alerts evaluated on real warehouses built from the sample, delivered to a real webhook
receiver on loopback (signature checked) and through Django's locmem mail backend."""

from __future__ import annotations

import hashlib
import hmac
import http.server
import json
import threading
from datetime import UTC, date, datetime, timedelta

import pytest
from django.core import mail

from alerts import tasks
from alerts.delivery import SIGNATURE_HEADER, TIMESTAMP_HEADER
from alerts.models import Alert, AlertEvent, Delivery
from heatmaps import warehouse
from heatmaps.api import payloads

from .conftest import build_served_warehouse

pytestmark = pytest.mark.django_db


class Receiver:
    """What a bot's webhook endpoint would do: check the signature, keep the body."""

    def __init__(self, secret: str = ""):
        self.secret = secret
        self.posts: list[dict] = []
        self.statuses: list[int] = []  # answers to give, in order; then 200
        self.url = ""

    def verified(self, headers, body: bytes) -> bool:
        expected = "sha256=" + hmac.new(self.secret.encode(), body, hashlib.sha256).hexdigest()
        return hmac.compare_digest(expected, headers.get(SIGNATURE_HEADER, ""))


@pytest.fixture
def receiver():
    state = Receiver()

    class Handler(http.server.BaseHTTPRequestHandler):
        def do_POST(self):
            body = self.rfile.read(int(self.headers["Content-Length"]))
            status = state.statuses.pop(0) if state.statuses else 200
            if status == 200:
                assert state.verified(self.headers, body), "bad signature"
                assert self.headers[TIMESTAMP_HEADER].isdigit()
                state.posts.append(json.loads(body))
            self.send_response(status)
            self.end_headers()

        def log_message(self, *args):
            pass

    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    state.url = f"http://127.0.0.1:{server.server_address[1]}/hook"
    try:
        yield state
    finally:
        server.shutdown()
        server.server_close()


@pytest.fixture(autouse=True)
def quick_retries(settings):
    settings.ALERT_WEBHOOK_RETRY_DELAYS = [0.01]
    settings.ALERT_WEBHOOK_TIMEOUT = 2.0


def make_alert(owner, receiver: Receiver | None = None, **fields) -> Alert:
    alert = Alert.objects.create(
        owner=owner, webhook_url=receiver.url if receiver else "", **fields
    )
    if receiver:
        receiver.secret = alert.secret
    return alert


def serve(settings, paths) -> None:
    settings.DUCKDB_PATH, settings.SERVING_PATH = paths
    settings.WAREHOUSE_RETRY_DELAYS = [0.01]


def test_a_cluster_alert_posts_once_per_crossing_however_often_it_is_evaluated(
    tmp_path, settings, dashboard_user, receiver
):
    near = build_served_warehouse(tmp_path / "near", end=date(2024, 1, 5))  # AVOID: < 2 %
    far = build_served_warehouse(tmp_path / "far", end=date(2024, 1, 9))  # CLEAR: > 2 %
    alert = make_alert(dashboard_user, receiver, kind=Alert.Kind.CLUSTER_NEAR, distance_pct=2.0)

    serve(settings, near)
    signal = payloads.signal("BTCUSDT", "ensemble")
    for _ in range(3):  # the price stays near the cluster for three evaluations
        tasks.evaluate()
    assert len(receiver.posts) == 1
    post = receiver.posts[0]
    assert post["kind"] == "cluster_near" and post["symbol"] == "BTCUSDT"
    assert post["cluster_price"] == signal["cluster_price"]
    assert post["distance_pct"] == signal["distance_pct"] <= 2
    assert post["cluster_notional"] > 0 and post["action"] == signal["action"] == "AVOID"
    assert post["message"].startswith(f"BTCUSDT is {signal['distance_pct']:.2f}% from a $")
    assert post["event"] == AlertEvent.objects.get().pk

    serve(settings, far)  # the price moved away: the alert re-arms, nothing is sent
    assert tasks.evaluate() == {"alerts": 1, "fired": 0, "rearmed": 1, "failed": 0}
    alert.refresh_from_db()
    assert alert.state == Alert.State.ARMED and len(receiver.posts) == 1

    serve(settings, near)  # and back: a second crossing, a second POST
    assert tasks.evaluate()["fired"] == 1
    tasks.evaluate()
    assert len(receiver.posts) == 2
    assert [d.status_code for d in Delivery.objects.all()] == [200, 200]


def test_a_cluster_floor_above_every_cluster_never_fires(served, dashboard_user, receiver):
    signal = payloads.signal("BTCUSDT", "ensemble")
    largest = warehouse.levels("BTCUSDT", "ensemble").groupby("price_bucket")["volume"].sum().max()
    make_alert(
        dashboard_user, receiver, kind="cluster_near", distance_pct=100.0, min_notional=largest + 1
    )
    fits = make_alert(
        dashboard_user,
        receiver,
        kind="cluster_near",
        distance_pct=signal["distance_pct"] + 0.01,
        min_notional=signal["cluster_notional"],
    )
    assert tasks.evaluate()["fired"] == 1
    assert [p["alert"] for p in receiver.posts] == [fits.pk]


def test_a_cascade_alert_e_mails_its_owner_once(tmp_path, settings, dashboard_user):
    # uncalibrated, the models fall far short of the sample's last-hour cascade
    serve(settings, build_served_warehouse(tmp_path, end=date(2024, 1, 10), calibrate=False))
    alert = make_alert(dashboard_user, kind=Alert.Kind.CASCADE, email=True)

    tasks.evaluate()
    tasks.evaluate()

    assert len(mail.outbox) == 1
    message = mail.outbox[0]
    assert message.to == ["trader@example.com"]
    assert message.subject.startswith("[liqmap] Liquidation cascade: $55.7M liquidated")
    assert '"action": "REVERSAL_OPPORTUNITY"' in message.body
    delivery = Delivery.objects.get()
    assert (delivery.channel, delivery.target, delivery.ok) == ("email", "trader@example.com", True)
    alert.refresh_from_db()
    assert alert.state == Alert.State.FIRED


def test_a_stale_feed_alert_fires_when_the_data_ends_longer_ago_than_its_limit(
    served, dashboard_user, receiver
):
    newest = datetime.fromtimestamp(warehouse.data_end("BTCUSDT") / 1000, UTC)
    make_alert(dashboard_user, receiver, kind=Alert.Kind.STALE_FEED, stale_minutes=10)

    for minutes in (5, 9):  # fresh
        assert tasks.evaluate(newest + timedelta(minutes=minutes))["fired"] == 0
    for minutes in (11, 12, 30):  # stale, and staying so: one POST
        tasks.evaluate(newest + timedelta(minutes=minutes))
    assert len(receiver.posts) == 1
    assert receiver.posts[0]["age_minutes"] == 11.0
    assert receiver.posts[0]["data_end"] == payloads.iso(warehouse.data_end("BTCUSDT"))

    # a new candle arrives (seen here as an earlier clock), then the feed stalls again
    assert tasks.evaluate(newest + timedelta(minutes=1))["rearmed"] == 1
    tasks.evaluate(newest + timedelta(minutes=15))
    assert len(receiver.posts) == 2


def test_the_default_limit_is_ten_minutes_and_no_data_at_all_is_stale(settings, dashboard_user):
    settings.SERVING_PATH = settings.DUCKDB_PATH.parent / "nothing-published"
    alert = make_alert(dashboard_user, kind=Alert.Kind.STALE_FEED, email=True)
    assert alert.stale_minutes == 10
    tasks.evaluate()
    assert "No candles for BTCUSDT" in mail.outbox[0].subject


def test_a_failing_webhook_is_recorded_and_the_other_alerts_are_delivered(
    served, settings, dashboard_user, receiver
):
    broken = Alert.objects.create(
        owner=dashboard_user,
        kind=Alert.Kind.STALE_FEED,
        webhook_url="http://127.0.0.1:9/hook",  # the discard port: nothing listens
        email=True,
    )
    working = make_alert(dashboard_user, receiver, kind=Alert.Kind.STALE_FEED)

    assert tasks.evaluate()["failed"] == 1

    failed = Delivery.objects.get(event__alert=broken, channel="webhook")
    assert not failed.ok and failed.attempts == 2 and "refused" in failed.error
    assert Delivery.objects.get(event__alert=broken, channel="email").ok  # its e-mail still went
    assert [p["alert"] for p in receiver.posts] == [working.pk]
    assert len(mail.outbox) == 1


def test_a_receiver_that_errs_once_is_asked_again_and_one_that_refuses_is_not(
    served, dashboard_user, receiver
):
    receiver.statuses = [503]
    retried = make_alert(dashboard_user, receiver, kind=Alert.Kind.STALE_FEED)
    tasks.evaluate()
    delivery = Delivery.objects.get(event__alert=retried)
    assert (delivery.ok, delivery.attempts, delivery.status_code) == (True, 2, 200)

    Alert.objects.all().delete()
    receiver.posts, receiver.statuses = [], [410]
    make_alert(dashboard_user, receiver, kind=Alert.Kind.STALE_FEED)
    tasks.evaluate()
    delivery = Delivery.objects.get()
    assert (delivery.ok, delivery.attempts, delivery.status_code) == (False, 1, 410)
    assert receiver.posts == [] and receiver.statuses == []


def test_a_paused_alert_is_not_evaluated(served, dashboard_user):
    make_alert(dashboard_user, kind=Alert.Kind.STALE_FEED, email=True, active=False)
    assert tasks.evaluate() == {"alerts": 0, "fired": 0, "rearmed": 0, "failed": 0}
    assert mail.outbox == []


def test_the_hourly_calculate_has_the_alerts_evaluated_on_its_new_snapshot(
    tmp_path, settings, dashboard_user
):
    from django_q.tasks import result

    from heatmaps import tasks as heatmap_tasks

    from .conftest import run_queued_tasks

    serve(settings, build_served_warehouse(tmp_path))
    make_alert(dashboard_user, kind=Alert.Kind.STALE_FEED, email=True)

    summary = heatmap_tasks.calculate_recent("BTCUSDT")

    assert run_queued_tasks() == 1  # as the qcluster does, right after the calculate
    assert result(summary["alerts_task"]) == {"alerts": 1, "fired": 1, "rearmed": 0, "failed": 0}
    assert len(mail.outbox) == 1


def test_two_evaluations_holding_the_same_alert_fire_it_once(dashboard_user):
    from django.utils import timezone

    alert = make_alert(dashboard_user, kind=Alert.Kind.CASCADE, email=True)
    mine, theirs = Alert.objects.get(pk=alert.pk), Alert.objects.get(pk=alert.pk)
    now = timezone.now()
    assert mine.fire(now) is True
    assert theirs.fire(now) is False  # it read "armed" too, but the row had moved
    assert theirs.rearm(now) is True and mine.rearm(now) is False
