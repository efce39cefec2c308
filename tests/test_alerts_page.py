"""The alerts page: behind the login, a user's own alerts only (create, edit, delete with
CSRF), the history of what they fired; the admin lists alerts and (read-only) events."""

from __future__ import annotations

import pytest
from django.test import Client
from django.urls import reverse
from django.utils import timezone

from alerts.models import Alert, AlertEvent, Delivery

pytestmark = pytest.mark.django_db

NEW_CLUSTER_ALERT = {
    "symbol": "BTCUSDT",
    "kind": "cluster_near",
    "distance_pct": "1.5",
    "min_notional": "50000000",
    "stale_minutes": "10",
    "webhook_url": "https://bot.example.com/liqmap",
    "active": "on",
}


@pytest.fixture
def other_alert(staff):
    return Alert.objects.create(owner=staff, kind="stale_feed", email=True, symbol="ETHUSDT")


def test_an_outsider_is_sent_to_the_login_page(client, other_alert):
    for url in (reverse("alerts"), reverse("alert-edit", args=[other_alert.pk])):
        response = client.get(url)
        assert response.status_code == 302 and response.url.startswith(reverse("login"))
    assert client.post(reverse("alert-delete", args=[other_alert.pk])).status_code == 302
    assert Alert.objects.filter(pk=other_alert.pk).exists()


def test_the_form_creates_an_alert_owned_by_the_user(clients, dashboard_user):
    response = clients["trader"].post(reverse("alerts"), NEW_CLUSTER_ALERT)
    assert response.status_code == 302 and response.url == reverse("alerts")
    alert = Alert.objects.get()
    assert (alert.owner, alert.kind, alert.distance_pct, alert.min_notional) == (
        dashboard_user,
        "cluster_near",
        1.5,
        50e6,
    )
    assert alert.state == Alert.State.ARMED and len(alert.secret) == 64
    html = clients["trader"].get(reverse("alerts")).content.decode()
    assert "price within 1.5 % of a cluster of at least $50,000,000" in html
    assert alert.secret in html  # the owner needs it to check the signature


def test_the_form_needs_csrf(dashboard_user):
    browser = Client(enforce_csrf_checks=True)
    browser.force_login(dashboard_user)
    assert browser.post(reverse("alerts"), NEW_CLUSTER_ALERT).status_code == 403
    assert 'name="csrfmiddlewaretoken"' in browser.get(reverse("alerts")).content.decode()


@pytest.mark.parametrize(
    ("change", "error"),
    [
        ({"distance_pct": ""}, "A cluster alert needs a distance in %."),
        ({"webhook_url": ""}, "Choose a delivery: a webhook URL, e-mail, or both."),
        ({"webhook_url": "ftp://example.com/x"}, "Enter a valid URL."),
        ({"distance_pct": "-1"}, "greater than or equal to 0"),
    ],
)
def test_the_form_says_what_is_wrong(clients, change, error):
    response = clients["trader"].post(reverse("alerts"), {**NEW_CLUSTER_ALERT, **change})
    assert response.status_code == 200 and error in response.content.decode()
    assert not Alert.objects.exists()


def test_e_mail_needs_an_address_on_the_account(client, django_user_model):
    nomail = django_user_model.objects.create_user("nomail", "", "x")
    client.force_login(nomail)
    form = {**NEW_CLUSTER_ALERT, "webhook_url": "", "email": "on"}
    assert (
        "Your account has no e-mail address."
        in client.post(reverse("alerts"), form).content.decode()
    )


def test_a_user_sees_and_touches_only_their_own_alerts(clients, other_alert):
    page = clients["trader"].get(reverse("alerts")).content.decode()
    assert "ETHUSDT" not in page.split('id="history"')[0].split("New alert")[0]
    assert f'data-alert="{other_alert.pk}"' not in page
    edit, delete = (
        reverse("alert-edit", args=[other_alert.pk]),
        reverse("alert-delete", args=[other_alert.pk]),
    )
    assert clients["trader"].get(edit).status_code == 404
    assert clients["trader"].post(edit, NEW_CLUSTER_ALERT).status_code == 404
    assert clients["trader"].post(delete).status_code == 404
    assert Alert.objects.get(pk=other_alert.pk).symbol == "ETHUSDT"
    assert (
        f'data-alert="{other_alert.pk}"' in clients["staff"].get(reverse("alerts")).content.decode()
    )


def test_editing_re_arms_and_deleting_needs_a_post(clients, dashboard_user):
    alert = Alert.objects.create(owner=dashboard_user, kind="cascade", email=True)
    alert.fire(timezone.now())
    edit = reverse("alert-edit", args=[alert.pk])
    assert 'value="cascade" selected' in clients["trader"].get(edit).content.decode()
    clients["trader"].post(edit, {**NEW_CLUSTER_ALERT, "kind": "cascade", "email": "on"})
    alert.refresh_from_db()
    assert alert.state == Alert.State.ARMED and alert.webhook_url.endswith("/liqmap")

    delete = reverse("alert-delete", args=[alert.pk])
    assert clients["trader"].get(delete).status_code == 405
    assert clients["trader"].post(delete).status_code == 302
    assert not Alert.objects.exists()


def test_the_history_shows_what_fired_and_how_each_delivery_went(clients, dashboard_user, staff):
    mine = Alert.objects.create(owner=dashboard_user, kind="cascade", email=True)
    theirs = Alert.objects.create(owner=staff, kind="cascade", email=True)
    for alert, message in ((mine, "Liquidation cascade: $55.7M"), (theirs, "someone else's")):
        event = AlertEvent.objects.create(
            alert=alert, fired_at=timezone.now(), message=message, payload={}
        )
    first = AlertEvent.objects.get(alert=mine)
    Delivery.objects.create(event=first, channel="email", target="trader@example.com", ok=True)
    Delivery.objects.create(
        event=first, channel="webhook", target="http://x", ok=False, error="timed out"
    )
    history = clients["trader"].get(reverse("alerts")).content.decode().split('id="history"')[1]
    assert "Liquidation cascade: $55.7M" in history
    assert "e-mail ok" in history and "webhook failed: timed out" in history
    assert "someone else" not in history
    assert event.alert == theirs


def test_the_navigation_links_the_alerts_page(clients):
    html = clients["trader"].get(reverse("heatmap")).content.decode()
    assert f'href="{reverse("alerts")}"' in html
    alerts_page = clients["trader"].get(reverse("alerts")).content.decode()
    assert f'href="{reverse("alerts")}" class="active" aria-current="page"' in alerts_page


def test_the_admin_lists_alerts_and_shows_events_read_only(clients, dashboard_user):
    alert = Alert.objects.create(owner=dashboard_user, kind="cascade", email=True)
    event = AlertEvent.objects.create(
        alert=alert, fired_at=timezone.now(), message="cascade!", payload={"a": 1}
    )
    Delivery.objects.create(event=event, channel="email", target="trader@example.com", ok=True)
    admin = clients["staff"]
    assert "trader" in admin.get(reverse("admin:alerts_alert_changelist")).content.decode()
    listing = admin.get(reverse("admin:alerts_alertevent_changelist")).content.decode()
    assert "cascade!" in listing and "e-mail ok" in listing
    detail = admin.get(reverse("admin:alerts_alertevent_change", args=[event.pk]))
    assert detail.status_code == 200 and "trader@example.com" in detail.content.decode()
    assert admin.get(reverse("admin:alerts_alertevent_add")).status_code == 403
    assert clients["trader"].get(reverse("admin:alerts_alert_changelist")).status_code == 302
