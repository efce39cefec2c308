"""Where files sit in the archive, and which of them a request covers.

Layout, relative to a root that is either a local folder or the archive's base URL::

    data/futures/um/daily/<dataset>/<SYMBOL>/<SYMBOL>-<dataset>-<YYYY-MM-DD>.zip
    data/futures/um/daily/klines/<SYMBOL>/<interval>/<SYMBOL>-<interval>-<YYYY-MM-DD>.zip
    data/futures/um/monthly/...  the same with <YYYY-MM>

Each zip has ``<name>.zip.CHECKSUM`` beside it (``<sha256>  <name>``).
"""

from __future__ import annotations

import re
from collections.abc import Iterable
from dataclasses import dataclass
from datetime import date, timedelta
from pathlib import Path, PurePosixPath

from .formats import DATASETS, INTERVALS, Dataset

PREFIX = PurePosixPath("data/futures/um")
# Intervals fetched when a kline dataset is named without one ("klines" = "klines:5m"):
# the position ledger works on 5-minute bars and sweeps levels with the 1-minute mark price.
DEFAULT_INTERVALS = {"klines": "5m", "markPriceKlines": "1m", "indexPriceKlines": "1m"}


@dataclass(frozen=True)
class Selection:
    """One dataset a command works on, with its kline interval (None = any, for ingest)."""

    dataset: Dataset
    interval: str | None = None

    def __str__(self) -> str:
        return f"{self.dataset.name}:{self.interval}" if self.interval else self.dataset.name


@dataclass(frozen=True)
class ArchiveFile:
    dataset: Dataset
    symbol: str
    interval: str | None
    period: str  # YYYY-MM-DD (daily file) or YYYY-MM (monthly file)
    relpath: PurePosixPath  # below the root, with the file's own suffix (.zip or .csv)

    @property
    def frequency(self) -> str:
        return "monthly" if len(self.period) == 7 else "daily"

    @property
    def first_day(self) -> date:
        return date.fromisoformat(self.period if len(self.period) == 10 else self.period + "-01")

    @property
    def last_day(self) -> date:
        if len(self.period) == 10:
            return self.first_day
        nxt = (self.first_day.replace(day=28) + timedelta(days=4)).replace(day=1)
        return nxt - timedelta(days=1)


def parse_selections(text: str | None, *, need_interval: bool) -> list[Selection]:
    """Parse ``metrics,klines:5m,...``; an empty text means every dataset.

    With ``need_interval`` (downloads), a kline dataset named without an interval takes its
    default one; without it (ingest) it means every interval present.
    """
    names = [part.strip() for part in (text or "").split(",") if part.strip()]
    if not names:
        names = list(DATASETS)
    selections = []
    lookup = {name.lower(): ds for name, ds in DATASETS.items()}
    for name in names:
        base, _, interval = name.partition(":")
        dataset = lookup.get(base.lower())
        if dataset is None:
            raise ValueError(f"unknown dataset {base!r}; known: {', '.join(DATASETS)}")
        if interval and not dataset.has_interval:
            raise ValueError(f"{dataset.name} has no interval (got {name!r})")
        if interval and interval not in INTERVALS:
            raise ValueError(f"unknown interval {interval!r}; known: {', '.join(INTERVALS)}")
        if dataset.has_interval and not interval and need_interval:
            interval = DEFAULT_INTERVALS[dataset.name]
        selections.append(Selection(dataset, interval or None))
    return selections


def file_name(dataset: Dataset, symbol: str, period: str, interval: str | None) -> str:
    middle = interval if dataset.has_interval else dataset.name
    return f"{symbol}-{middle}-{period}.zip"


def folder(dataset: Dataset, symbol: str, frequency: str, interval: str | None) -> PurePosixPath:
    path = PREFIX / frequency / dataset.name / symbol
    return path / interval if dataset.has_interval and interval else path


def expected_files(selection: Selection, symbol: str, start: date, end: date) -> list[ArchiveFile]:
    """The archive files that cover ``start``..``end`` (inclusive) for one selection."""
    dataset, interval = selection.dataset, selection.interval
    if dataset.monthly_only:
        periods = sorted({f"{d:%Y-%m}" for d in days(start, end)})
        frequency = "monthly"
    else:
        periods = [d.isoformat() for d in days(start, end)]
        frequency = "daily"
    base = folder(dataset, symbol, frequency, interval)
    return [
        ArchiveFile(dataset, symbol, interval, p, base / file_name(dataset, symbol, p, interval))
        for p in periods
    ]


def days(start: date, end: date) -> Iterable[date]:
    for offset in range((end - start).days + 1):
        yield start + timedelta(days=offset)


_NAME = re.compile(
    r"^(?P<symbol>[A-Z0-9]+)-(?P<middle>[A-Za-z0-9]+)-(?P<period>\d{4}-\d{2}(-\d{2})?)$"
)


def find_local_files(
    root: Path, symbol: str, start: date, end: date, selections: list[Selection]
) -> list[ArchiveFile]:
    """Every archive file under ``root`` for ``symbol`` whose period touches ``start``..``end``.

    Both ``.zip`` and plain ``.csv`` files are found; where both exist the zip wins, since only
    it can be checked against its CHECKSUM.
    """
    found: dict[PurePosixPath, ArchiveFile] = {}
    for selection in selections:
        dataset = selection.dataset
        for frequency in ("daily", "monthly"):
            base = root / folder(dataset, symbol, frequency, None)
            pattern = f"{selection.interval or '*'}/*" if dataset.has_interval else "*"
            for path in sorted(base.glob(pattern)):
                suffix = path.suffix.lower()
                if suffix not in (".zip", ".csv") or not path.is_file():
                    continue
                match = _NAME.match(path.stem)
                if not match or match["symbol"] != symbol:
                    continue
                interval = path.parent.name if dataset.has_interval else None
                if match["middle"] != (interval if dataset.has_interval else dataset.name):
                    continue
                relpath = PurePosixPath(path.relative_to(root).as_posix())
                item = ArchiveFile(dataset, symbol, interval, match["period"], relpath)
                if item.last_day < start or item.first_day > end:
                    continue
                key = relpath.with_suffix("")
                if key not in found or suffix == ".zip":
                    found[key] = item
    return sorted(found.values(), key=lambda f: (f.dataset.name, f.interval or "", f.period))


def with_expected(found: list[ArchiveFile], expected: list[ArchiveFile]) -> list[ArchiveFile]:
    """``found`` (local files) and the ``expected`` ones not among them (to be downloaded), in
    ``find_local_files``' order: what it will find once they are."""
    have = {f.relpath.with_suffix("") for f in found}
    missing = [f for f in expected if f.relpath.with_suffix("") not in have]
    return sorted([*found, *missing], key=lambda f: (f.dataset.name, f.interval or "", f.period))
