"""No token or password in any log line of a test run.

Every log record of the session is kept in files: this process's at DEBUG, and those of the
``manage.py`` subprocesses the tests start (through the LOG_FILE setting they inherit). Every
API token issued and every password set or tried during the session is remembered, and when
the session ends the files are searched for each of them: a hit fails the run and names the
file and the line. The hooks are imported by ``tests/conftest.py``."""

from __future__ import annotations

import logging
import os
import shutil
import tempfile
from pathlib import Path

import pytest

# shorter values ("x", "wrong") would be found in unrelated text
MIN_LENGTH = 8
SECRETS: set[str] = set()
LOG_DIR = Path(tempfile.mkdtemp(prefix="liqmap-test-logs-"))
# loggers configured above DEBUG (settings.LOGGING) that would drop records before the file
QUIETED = ("django", "django.server", "django.request", "axes", "axes.apps")


def remember(secret: str | None) -> None:
    if secret and len(secret) >= MIN_LENGTH:
        SECRETS.add(secret)


def leaks(lines: list[str], secrets: set[str]) -> list[tuple[int, str]]:
    """(line number, secret) for each line that holds one of ``secrets``."""
    return [(n, s) for n, line in enumerate(lines, 1) for s in secrets if s in line]


def _record_secrets() -> None:
    # Spies, not stand-ins: each calls the real function and only remembers its secret.
    import knox.models
    from django.contrib.auth import base_user, hashers
    from django.contrib.auth import models as auth_models
    from django.contrib.auth.backends import ModelBackend

    issue = knox.models.get_digest_token

    def get_digest_token(prefix=None):
        digest, token = issue(prefix)
        remember(token)
        return digest, token

    knox.models.get_digest_token = get_digest_token

    # every password set passes through make_password (create_user calls it directly); the
    # modules that imported it by name get the spy too
    hash_password = hashers.make_password

    def make_password(password, *args, **kwargs):
        remember(password)
        return hash_password(password, *args, **kwargs)

    for module in (hashers, base_user, auth_models):
        module.make_password = make_password

    check = ModelBackend.authenticate

    def authenticate(self, request, username=None, password=None, **kwargs):
        remember(password)
        return check(self, request, username=username, password=password, **kwargs)

    ModelBackend.authenticate = authenticate


def _log_everything() -> None:
    root = logging.getLogger()
    stderr_level = root.level
    # the console keeps its level (pytest shows it for failures); the file takes everything
    for handler in root.handlers:
        if handler.level == logging.NOTSET:
            handler.setLevel(stderr_level)
    formatter = next((h.formatter for h in root.handlers if h.name == "stderr"), None)
    handler = logging.FileHandler(LOG_DIR / f"pytest-{os.getpid()}.log", encoding="utf-8")
    handler.setFormatter(formatter)
    root.addHandler(handler)
    root.setLevel(logging.DEBUG)
    for name in QUIETED:
        logging.getLogger(name).setLevel(logging.DEBUG)
    os.environ["LOG_FILE"] = str(LOG_DIR / "subprocesses.log")


def pytest_sessionstart(session) -> None:
    _record_secrets()
    _log_everything()


def pytest_sessionfinish(session, exitstatus) -> None:
    for handler in logging.getLogger().handlers:
        handler.flush()
    files = sorted(LOG_DIR.glob("*.log"))
    found, lines = [], 0
    for path in files:
        text = path.read_text(encoding="utf-8", errors="replace").splitlines()
        lines += len(text)
        found += [f"{path}:{n}" for n, _ in leaks(text, SECRETS)]
    reporter = session.config.pluginmanager.get_plugin("terminalreporter")
    if found:
        if reporter:
            reporter.write_line(
                f"SECRETS IN THE LOGS: a token or password is logged at {', '.join(found[:10])}",
                red=True,
            )
        session.exitstatus = pytest.ExitCode.TESTS_FAILED
        return
    if reporter:
        reporter.write_line(
            f"log check: {lines} log lines of this run hold none of the {len(SECRETS)} tokens"
            " and passwords issued or tried"
        )
    shutil.rmtree(LOG_DIR, ignore_errors=True)
