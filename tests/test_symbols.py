"""Any symbol on the command line: a symbol the warehouse has no candles for, or no
maintenance-margin table for, is refused with what is loaded and what to do."""

from datetime import date

import pytest
from django.core.management import call_command
from django.core.management.base import CommandError

from heatmaps import tasks

from .conftest import SAMPLE

pytestmark = pytest.mark.django_db


@pytest.fixture
def eth_loaded(warehouse_path):
    tasks.ingest("ETHUSDT", date(2024, 1, 1), date(2024, 1, 1), source=SAMPLE, datasets="klines")
    return warehouse_path


@pytest.mark.parametrize("command", ["calculate", "calibrate"])
def test_a_symbol_without_candles_is_refused_naming_the_loaded_ones(eth_loaded, command):
    with pytest.raises(CommandError, match=r"no candles for SOLUSDT .*\(loaded: ETHUSDT\)"):
        call_command(command, "--symbol", "solusdt")


def test_a_symbol_without_brackets_is_refused_with_the_way_to_get_them(eth_loaded):
    with pytest.raises(
        CommandError, match="no maintenance-margin brackets for XRPUSDT.*fetch_brackets"
    ):
        call_command("calculate", "--symbol", "XRPUSDT")


def test_a_malformed_symbol_is_refused_by_the_argument_parser():
    with pytest.raises(CommandError, match="not a symbol like BTCUSDT"):
        call_command("calculate", "--symbol", "BTC/USDT")
