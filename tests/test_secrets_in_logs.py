"""No token or password in a log line: what handles them (logins, the admin, the API, the
commands that print them), with every logger at DEBUG, in the structured format production
writes. tests/log_secrets.py checks the logs of the whole test run the same way."""

from __future__ import annotations

import io
import logging
import os
import re
import subprocess
import sys

import pytest
from django.core.management import call_command
from knox.models import AuthToken

from .conftest import PASSWORD, REPO
from .log_secrets import QUIETED, leaks

pytestmark = pytest.mark.django_db


@pytest.fixture
def log_lines():
    """Every record of the test, at DEBUG, as JSON lines like production's (a callable
    returning the lines so far)."""
    root = logging.getLogger()
    stream = io.StringIO()
    handler = logging.StreamHandler(stream)
    handler.setFormatter(next(h.formatter for h in root.handlers if h.name == "stderr"))
    levels = {name: logging.getLogger(name).level for name in ("", *QUIETED)}
    for name in levels:
        logging.getLogger(name).setLevel(logging.DEBUG)
    root.addHandler(handler)
    yield lambda: stream.getvalue().splitlines()
    root.removeHandler(handler)
    for name, level in levels.items():
        logging.getLogger(name).setLevel(level)


def test_the_search_finds_a_secret_anywhere_in_a_line():
    lines = ['{"event": "ok"}', '{"event": "login", "password": "correct horse battery"}']
    assert leaks(lines, {"correct horse battery", "absent-secret"}) == [
        (2, "correct horse battery")
    ]


def test_logins_api_calls_and_token_admin_log_no_secret(
    client, clients, staff, bot_token, log_lines
):
    wrong = "a-wrong-password-tried"
    client.post("/accounts/login/", {"username": "staff", "password": wrong})
    client.post("/admin/login/", {"username": "staff", "password": wrong})
    assert (
        client.post("/accounts/login/", {"username": "staff", "password": PASSWORD}).status_code
        == 302
    )
    assert clients["bot"].get("/api/v1/health").status_code == 200
    typo = bot_token[:-1] + ("0" if bot_token[-1] != "0" else "1")
    assert client.get("/api/v1/nowhere", HTTP_AUTHORIZATION=f"Token {typo}").status_code == 404
    assert client.get("/api/v1/health", HTTP_AUTHORIZATION=f"Token {typo}").status_code == 401
    added = clients["staff"].post(
        "/admin/knox/authtoken/add/",
        {"user": staff.pk, "expiry_0": "", "expiry_1": ""},
        follow=True,
    )
    shown = re.search(r"TOKEN (\w+)", added.content.decode()).group(1)  # shown once, to staff
    lines = log_lines()
    assert any("AXES: New login failure" in line for line in lines)  # the logs did get lines
    assert leaks(lines, {wrong, PASSWORD, bot_token, typo, shown}) == []


def test_the_commands_print_secrets_but_never_log_them(django_user_model, log_lines, capsys):
    call_command("demo_user")
    django_user_model.objects.create_user("newbot")
    call_command("create_token", "newbot")
    printed = capsys.readouterr().out
    password = re.search(r"Log in as\s+\S+ / (\S+)", printed).group(1)
    demo_token = re.search(r"API token\s+(\w+)", printed).group(1)
    new_token = printed.strip().splitlines()[-1]
    assert AuthToken.objects.count() == 2
    assert leaks(log_lines(), {password, demo_token, new_token}) == []


@pytest.mark.parametrize("debug", ["true", "false"])
def test_demo_user_in_a_process_of_its_own_logs_no_secret(tmp_path, debug):
    env = {
        **os.environ,
        "DEBUG": debug,
        "LOG_LEVEL": "DEBUG",
        "DATABASE_URL": f"sqlite:///{tmp_path / 'db.sqlite3'}",
    }
    manage = [sys.executable, "manage.py"]
    subprocess.run([*manage, "migrate", "-v0"], cwd=REPO, env=env, check=True, capture_output=True)
    done = subprocess.run(
        [*manage, "demo_user"], cwd=REPO, env=env, check=True, capture_output=True, text=True
    )
    password = re.search(r"Log in as\s+\S+ / (\S+)", done.stdout).group(1)
    token = re.search(r"API token\s+(\w+)", done.stdout).group(1)
    assert leaks(done.stderr.splitlines(), {password, token}) == []
