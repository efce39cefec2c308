"""Guessing passwords: after AXES_FAILURE_LIMIT failures the account (from anywhere) and the
address (on any account) are refused, even with the right password, until the cool-off ends or
an operator resets them. Tokens on the API are not affected."""

from __future__ import annotations

import time
from datetime import timedelta

import pytest
from django.conf import settings
from django.core.management import call_command

from .conftest import PASSWORD

pytestmark = pytest.mark.django_db

ATTACKER, OTHER = "203.0.113.7", "198.51.100.9"


def attempt(client, username: str, password: str, address: str, url="/accounts/login/"):
    return client.post(url, {"username": username, "password": password}, REMOTE_ADDR=address)


def logged_in(client) -> bool:
    return "_auth_user_id" in client.session


def guess(client, username="trader", times=50, url="/accounts/login/") -> list[int]:
    return [
        attempt(client, username, f"guess-{i}", ATTACKER, url).status_code for i in range(times)
    ]


def test_fifty_wrong_passwords_lock_the_account_and_the_right_one_is_refused(
    client, dashboard_user
):
    codes = guess(client)
    limit = settings.AXES_FAILURE_LIMIT
    assert codes[: limit - 1] == [200] * (limit - 1)  # the form again, with its error
    assert set(codes[limit - 1 :]) == {429}
    response = attempt(client, "trader", PASSWORD, ATTACKER)
    assert response.status_code == 429 and b"Too many failed logins" in response.content
    assert not logged_in(client)


def test_the_account_is_locked_from_every_address_and_the_address_for_every_account(
    client, dashboard_user, staff
):
    guess(client)
    assert attempt(client, "trader", PASSWORD, OTHER).status_code == 429
    assert attempt(client, "staff", PASSWORD, ATTACKER).status_code == 429
    # another account from another address is unaffected
    assert attempt(client, "staff", PASSWORD, OTHER).status_code == 302
    assert logged_in(client)


def test_the_admin_login_is_throttled_the_same_way(client, staff):
    codes = guess(client, "staff", url="/admin/login/")
    assert codes[-1] == 429
    assert attempt(client, "staff", PASSWORD, ATTACKER, "/admin/login/").status_code == 429
    assert not logged_in(client)


def test_axes_reset_lifts_the_lockout(client, dashboard_user):
    guess(client)
    call_command("axes_reset", verbosity=0)
    assert attempt(client, "trader", PASSWORD, ATTACKER).status_code == 302


def test_the_lockout_ends_after_the_cool_off(client, dashboard_user, settings):
    settings.AXES_COOLOFF_TIME = timedelta(seconds=1)
    guess(client, times=settings.AXES_FAILURE_LIMIT)
    assert attempt(client, "trader", PASSWORD, ATTACKER).status_code == 429
    time.sleep(1.5)
    assert attempt(client, "trader", PASSWORD, ATTACKER).status_code == 302


def test_a_success_before_the_limit_clears_the_failures(client, dashboard_user):
    guess(client, times=settings.AXES_FAILURE_LIMIT - 1)
    assert attempt(client, "trader", PASSWORD, ATTACKER).status_code == 302
    client.logout()
    assert set(guess(client, times=settings.AXES_FAILURE_LIMIT - 1)) == {200}


def test_a_bot_token_still_works_from_a_locked_address(served, clients, dashboard_user):
    guess(clients["outsider"])
    response = clients["bot"].get("/api/v1/health", REMOTE_ADDR=ATTACKER)
    assert response.status_code == 200


def test_behind_a_proxy_the_client_address_comes_from_its_header(client, staff, settings):
    settings.CLIENT_IP_HEADER = "X-Forwarded-For"
    for i in range(settings.AXES_FAILURE_LIMIT):
        client.post(
            "/accounts/login/",
            {"username": f"nobody{i}", "password": "x"},
            REMOTE_ADDR="127.0.0.1",  # the proxy
            HTTP_X_FORWARDED_FOR=f"10.9.9.9, {ATTACKER}",  # a forged first hop, then the proxy's
        )
    locked = client.post(
        "/accounts/login/",
        {"username": "staff", "password": PASSWORD},
        REMOTE_ADDR="127.0.0.1",
        HTTP_X_FORWARDED_FOR=ATTACKER,
    )
    assert locked.status_code == 429
    other = client.post(
        "/accounts/login/",
        {"username": "staff", "password": PASSWORD},
        REMOTE_ADDR="127.0.0.1",
        HTTP_X_FORWARDED_FOR=OTHER,
    )
    assert other.status_code == 302
