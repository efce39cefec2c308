"""Production settings from the environment alone: `check --deploy` clean behind TLS, no start
with the example secret, and gunicorn + WhiteNoise serving what a browser needs."""

from __future__ import annotations

import http.client
import os
import secrets
import socket
import subprocess
import sys
import time

import pytest

from .conftest import REPO

SECRET = secrets.token_urlsafe(50)


def production_env(tmp_path, **overrides: str) -> dict[str, str]:
    """What an operator behind a TLS proxy on this host sets (README, "Settings for
    production"; no HTTPS variable: on by default), and where the test keeps its files."""
    env = {k: v for k, v in os.environ.items() if k not in {"HTTPS", "SECRET_KEY"}}
    return {
        **env,
        "DJANGO_SETTINGS_MODULE": "liqsite.settings",
        "DEBUG": "false",
        "SECRET_KEY": SECRET,
        "ALLOWED_HOSTS": "liqmap.example,127.0.0.1",
        "CLIENT_IP_HEADER": "X-Real-IP",
        "DATABASE_URL": f"sqlite:///{tmp_path / 'db.sqlite3'}",
        "DUCKDB_PATH": str(tmp_path / "warehouse.duckdb"),
        "SERVING_PATH": str(tmp_path / "serving"),
        "CACHE_URL": f"filecache://{tmp_path / 'cache'}",
        "STATIC_ROOT": str(tmp_path / "static"),
        "STATIC_COLLECTED": "true",
        "LOG_LEVEL": "WARNING",
        **overrides,
    }


def manage(env: dict[str, str], *args: str) -> subprocess.CompletedProcess:
    return subprocess.run(
        [sys.executable, "manage.py", *args], cwd=REPO, env=env, capture_output=True, text=True
    )


@pytest.mark.parametrize("proxy", [{}, {"SECURE_PROXY_SSL_HEADER": "X-Forwarded-Proto"}])
def test_check_deploy_gives_no_warning_behind_tls_with_env_vars_only(tmp_path, proxy):
    env = production_env(tmp_path, **proxy)
    done = manage(env, "check", "--deploy", "--fail-level", "WARNING")
    assert done.returncode == 0, done.stderr
    assert "System check identified no issues (0 silenced)." in done.stdout


def test_plain_http_is_what_check_deploy_warns_about(tmp_path):
    done = manage(production_env(tmp_path, HTTPS="false"), "check", "--deploy")
    for warning in ("W004", "W008", "W012", "W016"):
        assert f"security.{warning}" in done.stderr


@pytest.mark.parametrize(
    "secret", ["change-me", "", "short-secret", "a" * 60, "django-insecure-" + "x1y2z3" * 10]
)
def test_it_refuses_to_start_with_the_example_an_empty_or_a_weak_secret(tmp_path, secret):
    done = manage(production_env(tmp_path, SECRET_KEY=secret), "check")
    assert done.returncode != 0
    assert "ImproperlyConfigured: SECRET_KEY must be set to a random value" in done.stderr


def test_a_laptop_in_debug_starts_without_a_secret_on_plain_http(tmp_path):
    env = production_env(tmp_path, DEBUG="true")
    del env["SECRET_KEY"]
    shown = manage(
        env,
        "shell",
        "-c",
        "from django.conf import settings as s; print(s.SECURE_SSL_REDIRECT,"
        " s.SESSION_COOKIE_SECURE, s.SECURE_HSTS_SECONDS,"
        " hasattr(s, 'CONTENT_SECURITY_POLICY'), bool(s.CONTENT_SECURITY_POLICY_REPORT_ONLY))",
    )
    assert shown.returncode == 0, shown.stderr
    # plain HTTP, and the policy only reported: Django's debug pages need inline scripts
    assert shown.stdout.splitlines()[-1].split() == ["False", "False", "0", "False", "True"]


# --- gunicorn + WhiteNoise, as the Procfile and deploy/liqmap-web.service run them -------------


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def request(port: int, path: str, headers: dict[str, str] | None = None):
    conn = http.client.HTTPConnection("127.0.0.1", port, timeout=10)
    try:
        conn.request("GET", path, headers={"Host": "liqmap.example", **(headers or {})})
        response = conn.getresponse()
        return response.status, dict(response.getheaders()), response.read()
    finally:
        conn.close()


@pytest.fixture
def gunicorn(tmp_path):
    env = production_env(tmp_path)
    assert manage(env, "migrate", "-v0").returncode == 0
    collected = manage(env, "collectstatic", "--noinput", "-v0")
    assert collected.returncode == 0, collected.stderr
    port = free_port()
    log = open(tmp_path / "gunicorn.log", "wb")  # noqa: SIM115  (open while the server runs)
    server = subprocess.Popen(
        [sys.executable, "-m", "gunicorn", "liqsite.wsgi:application", "--bind",
         f"127.0.0.1:{port}", "--workers", "1", "--no-control-socket"],
        cwd=REPO, env=env, stdout=log, stderr=subprocess.STDOUT,
    )  # fmt: skip
    deadline = time.monotonic() + 30
    while time.monotonic() < deadline:
        try:
            request(port, "/healthz")
            break
        except OSError:
            time.sleep(0.2)
    yield port, tmp_path / "static"
    server.terminate()
    server.wait(timeout=15)
    log.close()


@pytest.mark.slow
def test_gunicorn_serves_https_only_pages_and_compressed_hashed_static_files(gunicorn):
    port, static_root = gunicorn
    behind_tls = {"X-Forwarded-Proto": "https"}

    status, headers, _ = request(port, "/accounts/login/")
    assert status == 301 and headers["Location"] == "https://liqmap.example/accounts/login/"

    status, headers, body = request(port, "/accounts/login/", behind_tls)
    assert status == 200 and b'name="password"' in body
    assert headers["Strict-Transport-Security"] == "max-age=31536000; includeSubDomains; preload"
    assert "script-src 'self'" in headers["Content-Security-Policy"]
    assert headers["X-Content-Type-Options"] == "nosniff"
    assert headers["X-Frame-Options"] == "DENY"
    assert headers["Referrer-Policy"] == "same-origin"
    assert headers["Cross-Origin-Opener-Policy"] == "same-origin"
    assert "csrftoken=" in headers["Set-Cookie"] and "; Secure" in headers["Set-Cookie"]

    hashed = next((static_root / "vendor").glob("plotly.min.*.js")).name
    assert (static_root / "vendor" / f"{hashed}.br").exists()
    status, headers, body = request(
        port, f"/static/vendor/{hashed}", {**behind_tls, "Accept-Encoding": "br, gzip"}
    )
    assert status == 200 and headers["Content-Encoding"] == "br"
    assert "immutable" in headers["Cache-Control"]
    assert len(body) < (static_root / "vendor" / hashed).stat().st_size / 3

    # a monitor probes the server itself over plain HTTP: not redirected
    status, _, body = request(port, "/healthz")
    assert status in (200, 503) and body.startswith(b'{"status"')
