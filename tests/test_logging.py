"""Each log line is printed once, whoever logs it (Django, django-q2, liqmap's structlog)."""

from __future__ import annotations

import os
import subprocess
import sys

import pytest

from .conftest import REPO

EMIT = """
import logging
import django
django.setup()
from django_q.conf import logger as q_logger
import structlog
logging.getLogger("django").warning("from-django")
logging.getLogger("django.request").warning("from-request")
logging.getLogger("django.server").warning("from-server")
q_logger.warning("from-q")
structlog.get_logger("liqmap.test").warning("from-liqmap")
"""


@pytest.mark.parametrize("debug", ["true", "false"])
def test_every_line_is_printed_once_in_one_format(debug, tmp_path):
    env = {
        **os.environ,
        "DJANGO_SETTINGS_MODULE": "liqsite.settings",
        "DEBUG": debug,
        "LOG_LEVEL": "INFO",
        "DATABASE_URL": f"sqlite:///{tmp_path / 'db.sqlite3'}",
    }
    out = subprocess.run(
        [sys.executable, "-c", EMIT], cwd=REPO, env=env, capture_output=True, text=True, check=True
    )
    lines = out.stderr.splitlines()
    for event in ("from-django", "from-request", "from-server", "from-q", "from-liqmap"):
        printed = [line for line in lines if event in line]
        assert len(printed) == 1, (event, lines)
        # one formatter: JSON lines in production, structlog's console lines with DEBUG
        assert printed[0].startswith("{") == (debug == "false"), printed
