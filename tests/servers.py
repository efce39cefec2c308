"""The scale-out tests' servers (bench/servers.py: PostgreSQL and Redis on loopback, from
Debian's packages, which `.ci/run` installs). A machine without them skips those tests,
naming the package to install (under .ci/run they fail instead)."""

from __future__ import annotations

import os
import shutil

import pytest

from bench.servers import Postgres, Redis, postgres_binaries


def missing(what: str, package: str) -> None:
    reason = f"needs {what}: apt-get install {package} (.ci/run does)"
    if os.environ.get("LIQMAP_REQUIRE_SERVERS"):  # CI: a skip would hide a broken install
        pytest.fail(reason)
    pytest.skip(reason)


@pytest.fixture(scope="session")
def postgres():
    bin_dir = postgres_binaries()
    if bin_dir is None:
        missing("PostgreSQL", "postgresql")
    server = Postgres(bin_dir)
    yield server
    server.close()


@pytest.fixture(scope="session")
def redis_url():
    binary = shutil.which("redis-server")
    if binary is None:
        missing("Redis", "redis-server")
    server = Redis(binary)
    yield server.url
    server.close()
