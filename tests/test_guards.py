"""Guards that keep the repository honest: the things a reviewer would otherwise check by hand."""

from __future__ import annotations

import re
import subprocess
import sys

import pytest
from django.core.management import call_command

from .conftest import REPO


@pytest.mark.django_db
def test_models_and_migrations_agree():
    call_command("makemigrations", "--check", "--dry-run", verbosity=0)


def test_the_readme_opens_with_the_two_setup_commands_and_ci_runs_the_second():
    readme = (REPO / "README.md").read_text()
    block = re.search(r"```bash\n(.*?)```", readme, re.S)
    commands = [line.split("#")[0].strip() for line in block.group(1).splitlines() if line.strip()]
    assert commands == ["make demo", "make test"]
    assert readme.index(block.group(0)) < readme.index("\n## ")
    ci = (REPO / ".ci" / "run").read_text()
    ci_commands = [ln.strip() for ln in ci.splitlines() if ln.strip() and not ln.startswith("#")]
    assert ci_commands[-1] == "make test"


def test_the_engine_imports_neither_django_nor_duckdb():
    offenders = [
        str(path.relative_to(REPO))
        for path in (REPO / "models_engine").rglob("*.py")
        if re.search(r"^\s*(from|import) (django|rest_framework|duckdb)\b", path.read_text(), re.M)
    ]
    assert offenders == []


WAREHOUSE = "heatmaps/warehouse/"


def outside_the_warehouse() -> list[tuple[str, str]]:
    """(path, text) of the project's Python outside the warehouse package, tests excepted."""
    return [
        (str(path.relative_to(REPO)), path.read_text())
        for folder in ("heatmaps", "alerts", "live", "liqsite", "models_engine", "bench", "data")
        for path in sorted((REPO / folder).rglob("*.py"))
        if not str(path.relative_to(REPO)).startswith(WAREHOUSE)
    ]


def test_only_the_warehouse_package_imports_duckdb():
    offenders = [
        path
        for path, text in outside_the_warehouse()
        if re.search(r"^\s*(from|import) duckdb\b", text, re.M)
    ]
    assert offenders == []


def test_only_the_warehouse_package_runs_sql():
    """SQL has one home: no ``.execute(`` outside heatmaps/warehouse/. Tests are not checked:
    they may query a warehouse directly to see what it stored."""
    offenders = [path for path, text in outside_the_warehouse() if ".execute(" in text]
    assert offenders == []


def test_the_code_is_ruff_clean():
    check = subprocess.run(
        [sys.executable, "-m", "ruff", "check", "."], cwd=REPO, capture_output=True, text=True
    )
    fmt = subprocess.run(
        [sys.executable, "-m", "ruff", "format", "--check", "."],
        cwd=REPO,
        capture_output=True,
        text=True,
    )
    assert check.returncode == 0, check.stdout
    assert fmt.returncode == 0, fmt.stdout


def test_the_api_and_the_pages_import_no_jobs():
    """Views parse, call and serialize: model names, tiers and labels come from the engine's
    registry, never from the jobs module."""
    offenders = sorted(
        str(path.relative_to(REPO))
        for path in [*(REPO / "heatmaps" / "api").rglob("*.py"), REPO / "heatmaps" / "views.py"]
        if re.search(r"^\s*from heatmaps(\.tasks)? import .*\btasks\b", path.read_text(), re.M)
    )
    assert offenders == []
