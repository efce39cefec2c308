"""Backups of the warehouse: a consistent copy per symbol, taken under its writer lock, that
restores to exactly what was there."""

from __future__ import annotations

from datetime import date

import pytest
from django.core.management import CommandError, call_command

from heatmaps import tasks, warehouse
from heatmaps.warehouse import WarehouseBusy

from .conftest import SAMPLE, snapshot

pytestmark = pytest.mark.django_db


@pytest.fixture
def two_symbols(warehouse_path, settings, tmp_path):
    settings.SERVING_PATH = tmp_path / "serving"
    for symbol in ("BTCUSDT", "ETHUSDT"):
        tasks.ingest(symbol, date(2024, 1, 1), date(2024, 1, 2), source=SAMPLE)
    return warehouse_path


def test_a_backup_restores_every_symbol_exactly(two_symbols, settings, tmp_path, capsys):
    before = {s: snapshot(s) for s in ("BTCUSDT", "ETHUSDT")}
    call_command("backup_warehouse", str(tmp_path / "backup"))
    out = capsys.readouterr().out
    assert "BTCUSDT: " in out and "ETHUSDT: " in out

    # restore: the copies become the warehouse of a fresh installation
    settings.DUCKDB_PATH = tmp_path / "backup" / two_symbols.name
    assert warehouse.stored_symbols() == ["BTCUSDT", "ETHUSDT"]
    assert {s: snapshot(s) for s in ("BTCUSDT", "ETHUSDT")} == before
    assert not list((tmp_path / "backup").glob("*.partial"))


def test_a_backup_waits_for_the_writer_and_names_it_when_it_gives_up(
    two_symbols, settings, tmp_path
):
    settings.WAREHOUSE_LOCK_TIMEOUT = 0.3
    with warehouse.connect("BTCUSDT"), pytest.raises(WarehouseBusy, match="is being written by"):
        warehouse.backup("BTCUSDT", tmp_path / "backup")
    assert not (tmp_path / "backup" / warehouse.path_of("BTCUSDT").name).exists()
    with pytest.raises(CommandError, match="no warehouse for SOLUSDT"):
        call_command("backup_warehouse", str(tmp_path / "backup"), "--symbols", "SOLUSDT")
