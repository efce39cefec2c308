"""The demo login that `make demo` prints works for the pages, the admin and the API."""

import re

import pytest
from django.core.management import call_command

pytestmark = pytest.mark.django_db


def log_in(client, username: str, password: str) -> bool:
    """Through the login form, as a person does (and as login throttling counts)."""
    response = client.post("/accounts/login/", {"username": username, "password": password})
    return response.status_code == 302


def test_demo_user_prints_a_login_and_a_token_that_work(client, capsys):
    call_command("demo_user")
    out = capsys.readouterr().out
    username, password = re.search(r"Log in as\s+(\S+) / (\S+)", out).groups()
    token = re.search(r"API token\s+(\w+)", out).group(1)

    assert log_in(client, username, password)
    assert client.get("/admin/").status_code == 200
    client.logout()
    assert client.get("/api/v1/health", HTTP_AUTHORIZATION=f"Token {token}").status_code == 200


def test_running_it_again_resets_the_password(capsys, client):
    call_command("demo_user")
    first = re.search(r"/ (\S+)", capsys.readouterr().out).group(1)
    call_command("demo_user")
    second = re.search(r"/ (\S+)", capsys.readouterr().out).group(1)
    assert first != second
    assert not log_in(client, "demo", first)
    assert log_in(client, "demo", second)


def test_running_it_again_lifts_a_login_lockout(client, capsys, settings):
    call_command("demo_user")
    for i in range(settings.AXES_FAILURE_LIMIT):
        log_in(client, "demo", f"wrong-{i}")
    call_command("demo_user")
    password = re.search(r"/ (\S+)", capsys.readouterr().out.split("Dashboard")[-1]).group(1)
    assert log_in(client, "demo", password)
