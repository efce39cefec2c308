"""The process list an operator runs: the Procfile and the systemd units say the same, and
every command they start exists."""

from __future__ import annotations

import configparser
import shlex

import pytest
from django.core.management import get_commands

from .conftest import REPO

UNITS = {
    "web": "liqmap-web",
    "qcluster": "liqmap-qcluster",
    "follow": "liqmap-follow",
    "record": "liqmap-record",
}


def procfile() -> dict[str, str]:
    lines = (REPO / "Procfile").read_text().splitlines()
    return dict(line.split(": ", 1) for line in lines if line.strip() and not line.startswith("#"))


def unit(name: str) -> configparser.ConfigParser:
    parser = configparser.ConfigParser(strict=False, interpolation=None)
    parser.optionxform = str  # systemd's keys are case-sensitive
    parser.read_string((REPO / "deploy" / f"{name}.service").read_text())
    return parser


def program(command: str) -> list[str]:
    """What a command line starts: gunicorn's app, or manage.py's subcommand."""
    words = shlex.split(command)
    if "manage.py" in command:
        return ["manage.py", words[words.index("manage.py") + 1]]
    return [
        word.rsplit("/", 1)[-1] for word in words if word.endswith(("gunicorn", ":application"))
    ]


def test_the_procfile_lists_the_four_processes_and_the_release_step():
    assert set(procfile()) == {"release", *UNITS}
    assert "migrate" in procfile()["release"] and "collectstatic" in procfile()["release"]


@pytest.mark.parametrize(("process", "name"), UNITS.items())
def test_each_process_has_a_systemd_unit_that_starts_the_same_program(process, name):
    service = unit(name)
    assert {"Unit", "Service", "Install"} <= set(service.sections())
    assert service["Service"]["User"] == "liqmap"
    assert service["Service"]["Restart"] in {"always", "on-failure"}
    exec_start = service["Service"]["ExecStart"]
    assert program(exec_start) == program(procfile()[process])
    if "manage.py" in exec_start:
        assert program(exec_start)[1] in get_commands()


def test_the_web_binds_loopback_only_behind_the_proxy():
    assert "--bind 127.0.0.1:" in unit("liqmap-web")["Service"]["ExecStart"]
    assert "--bind 127.0.0.1:" in procfile()["web"]


def test_the_readme_documents_every_unit():
    readme = (REPO / "README.md").read_text()
    for name in UNITS.values():
        assert f"deploy/{name}.service" in readme
