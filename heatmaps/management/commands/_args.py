"""What the commands share: argument types, so that bad input fails with the argument's name,
and the one-line report of a job that cannot run."""

from __future__ import annotations

import argparse
import contextlib
from collections.abc import Iterator
from datetime import date

from django.core.management.base import CommandError

from heatmaps.warehouse import WarehouseError
from heatmaps.warehouse.connection import SYMBOL


def symbol(text: str) -> str:
    value = text.strip().upper()
    if not SYMBOL.match(value):
        raise argparse.ArgumentTypeError(f"{text!r} is not a symbol like BTCUSDT")
    return value


def symbols(text: str) -> list[str]:
    """A comma-separated list of symbols, e.g. ``BTCUSDT,ETHUSDT``."""
    values = [symbol(part) for part in text.split(",") if part.strip()]
    if not values:
        raise argparse.ArgumentTypeError("give at least one symbol, e.g. BTCUSDT,ETHUSDT")
    return list(dict.fromkeys(values))


def day(text: str) -> date:
    try:
        return date.fromisoformat(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"{text!r} is not a date (YYYY-MM-DD)") from None


def add_period(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--symbol", type=symbol, default="BTCUSDT", help="e.g. BTCUSDT")
    parser.add_argument("--start", type=day, required=True, help="first day, YYYY-MM-DD (UTC)")
    parser.add_argument("--end", type=day, required=True, help="last day, inclusive")


def check_period(options: dict) -> None:
    if options["start"] > options["end"]:
        raise CommandError(f"--start {options['start']} is after --end {options['end']}")


@contextlib.contextmanager
def one_line_failures() -> Iterator[None]:
    """A job's expected failures (bad input, a warehouse that cannot be written or is busy)
    end the command with their one-line message and exit status 1, not a traceback."""
    try:
        yield
    except (ValueError, WarehouseError) as exc:
        raise CommandError(str(exc)) from None
