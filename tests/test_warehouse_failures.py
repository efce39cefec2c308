"""A warehouse that cannot be written says so in one line naming the path and the cause, exits
with status 1, and keeps what it held: a busy lock, a folder that cannot exist, a read-only
file or folder, a full disk. Real files and real mounts (tmpfs, read-only binds: the tests
that need them skip where mounting is not allowed)."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest
from django.core.management import call_command
from django.core.management.base import CommandError

from heatmaps import warehouse

from .conftest import REPO, SAMPLE, snapshot

pytestmark = pytest.mark.django_db


def ingest(*days: int, datasets: str = "metrics") -> None:
    call_command(
        "ingest",
        "--source",
        str(SAMPLE),
        "--start",
        f"2024-01-{days[0]:02d}",
        "--end",
        f"2024-01-{days[-1]:02d}",
        "--datasets",
        datasets,
        verbosity=0,
    )


def failure(*days: int, datasets: str = "metrics") -> str:
    """The one line an ingest that cannot write ends with (CommandError: exit status 1)."""
    with pytest.raises(CommandError) as caught:
        ingest(*days, datasets=datasets)
    message = str(caught.value)
    assert "\n" not in message
    return message


def mount(*args: str) -> None:
    done = subprocess.run(["mount", *args], capture_output=True, text=True)
    if done.returncode:
        pytest.skip(f"mounting is not allowed here ({done.stderr.strip()})")


@pytest.fixture
def small_disk(tmp_path, settings):
    """A 4 MB tmpfs holding the warehouse (the snapshots the web reads live elsewhere)."""
    disk = tmp_path / "disk"
    disk.mkdir()
    mount("-t", "tmpfs", "-o", "size=4m", "tmpfs", str(disk))
    settings.DUCKDB_PATH = disk / "liquidations.duckdb"
    settings.SERVING_PATH = tmp_path / "serving"
    yield disk
    subprocess.run(["umount", "-l", str(disk)], check=True)


def test_a_writer_behind_a_stuck_writer_gives_up_naming_it(tmp_path, warehouse_path, settings):
    holder = subprocess.Popen(
        [
            sys.executable,
            "manage.py",
            "shell",
            "-c",
            "from heatmaps import warehouse; import time\n"
            "with warehouse.connect('BTCUSDT'):\n    print('held', flush=True); time.sleep(120)",
        ],
        cwd=REPO,
        env={**os.environ, "DUCKDB_PATH": str(warehouse_path)},
        stdout=subprocess.PIPE,
        text=True,
    )
    try:
        next(line for line in holder.stdout if line.strip() == "held")
        settings.WAREHOUSE_LOCK_TIMEOUT = 0.3

        with pytest.raises(CommandError) as caught:
            call_command("calculate")
    finally:
        holder.kill()
        holder.wait()

    message = str(caught.value)
    path = warehouse.path_of("BTCUSDT")
    assert message.startswith(f"the warehouse {path} is being written by pid ")
    assert f"pid {holder.pid} (manage.py shell -c " in message
    assert " UTC; gave up after 0.3 s" in message and "\n" not in message


def test_the_lock_owner_is_recorded_while_writing_and_removed_after(warehouse_path):
    owner = Path(f"{warehouse.path_of('BTCUSDT')}.lock.owner")
    with warehouse.connect("BTCUSDT"):
        assert f'"pid": {os.getpid()}' in owner.read_text()
    assert not owner.exists()


def test_a_warehouse_folder_that_cannot_exist_is_one_line(tmp_path, settings):
    (tmp_path / "a-file").write_text("")
    settings.DUCKDB_PATH = tmp_path / "a-file" / "liquidations.duckdb"

    assert failure(1) == f"cannot write {warehouse.path_of('BTCUSDT')}: Not a directory"
    with pytest.raises(CommandError, match=r"^cannot write .*: Not a directory$"):
        call_command("calculate")


def test_manage_py_prints_the_one_line_and_exits_with_status_1(tmp_path):
    (tmp_path / "a-file").write_text("")
    env = {
        **os.environ,
        "DUCKDB_PATH": str(tmp_path / "a-file" / "liquidations.duckdb"),
        "DATABASE_URL": f"sqlite:///{tmp_path / 'db.sqlite3'}",
    }
    manage = [sys.executable, "manage.py"]
    subprocess.run([*manage, "migrate", "-v0"], cwd=REPO, env=env, check=True)

    done = subprocess.run([*manage, "calculate"], cwd=REPO, env=env, capture_output=True, text=True)

    assert done.returncode == 1
    path = tmp_path / "a-file" / "liquidations-BTCUSDT.duckdb"
    assert done.stderr == f"CommandError: cannot write {path}: Not a directory\n"


def test_a_read_only_warehouse_folder_is_one_line_and_keeps_its_rows(small_disk, settings):
    ingest(1)
    before = snapshot()
    mount("-o", "remount,ro", str(small_disk))

    assert failure(2) == f"cannot write {warehouse.path_of('BTCUSDT')}: Read-only file system"

    mount("-o", "remount,rw", str(small_disk))
    assert snapshot() == before


def test_a_read_only_warehouse_file_is_one_line_and_keeps_its_rows(small_disk, settings):
    ingest(1)
    before = snapshot()
    path = str(warehouse.path_of("BTCUSDT"))
    mount("--bind", path, path)
    try:
        mount("-o", "remount,bind,ro", path)
        message = failure(2)
    finally:
        subprocess.run(["umount", path], check=True)

    assert message.startswith(f"cannot write {path}: ")
    assert "Read-only file system" in message
    assert snapshot() == before


def test_a_full_disk_is_one_line_and_keeps_what_was_loaded(small_disk, settings):
    ingest(1)
    before = snapshot()
    filler = small_disk / "filler"
    with open(filler, "wb") as fh:  # leave 64 kB: less than one of DuckDB's blocks
        fh.write(
            b"\0" * (os.statvfs(small_disk).f_bavail * os.statvfs(small_disk).f_frsize - 65536)
        )

    message = failure(2, 5, datasets="aggTrades")

    assert message.startswith(f"cannot write {warehouse.path_of('BTCUSDT')}: ")
    assert "No space left on device" in message
    filler.unlink()
    assert snapshot() == before
