"""Jobs that bring the archive in: fetch (download with CHECKSUM checks), ingest (load,
alone or spread over the workers a day each: ``ingest_days``), and the daily
fetch_and_ingest."""

from __future__ import annotations

import time
from collections import Counter, defaultdict
from concurrent.futures import ThreadPoolExecutor
from contextlib import contextmanager, nullcontext
from datetime import date, timedelta
from pathlib import Path

import structlog
from django.conf import settings
from tqdm import tqdm

from heatmaps import warehouse
from heatmaps.binance import archive, download
from heatmaps.binance.formats import RejectedFile, sniff_header
from heatmaps.binance.unpack import csv_inside, first_line
from heatmaps.models import IngestRun

from . import ingest_days

log = structlog.get_logger("liqmap.ingest")


def ingest(
    symbol: str,
    start: date,
    end: date,
    *,
    source: Path | None = None,
    datasets: str | None = None,
    progress: bool = False,
    spread: bool = False,
    fetch: list[archive.ArchiveFile] | None = None,
) -> dict:
    """Load every archive file of ``symbol`` between ``start`` and ``end`` found under ``source``.

    A file already loaded with the same sha256 is skipped; a changed one replaces its own rows;
    a bad one is rejected whole. Returns counts per dataset and the rejected files. ``spread``:
    the qcluster's other workers hash and unzip the files, a day each, while this job loads
    them (``ingest_days``); the rows are the same. ``fetch``: files to download into
    ``source`` first, each by whoever loads or stages it (``fetch_and_ingest``).
    """
    source = Path(source or settings.BINANCE_DATA_PATH)
    selections = archive.parse_selections(datasets, need_interval=False)
    run = IngestRun.begin(
        symbol=symbol, start=start, end=end, source=str(source), datasets=datasets or ""
    )
    started = time.monotonic()
    files = archive.find_local_files(source, symbol, start, end, selections)
    to_fetch = {str(f.relpath) for f in fetch or []}
    if fetch:
        files = archive.with_expected(files, fetch)
    downloader, downloads = ingest_days.downloader(), ingest_days.Downloads()
    outcome: dict[str, Counter] = defaultdict(Counter)
    rejected: list[dict] = []
    try:
        with (
            ThreadPoolExecutor(max_workers=1) as hasher,
            warehouse.connect(symbol, all_cores=spread) as con,
            tqdm(
                total=len(files),
                unit="file",
                desc=f"ingest {symbol}",
                disable=not progress,
            ) as bar,
            _shared(spread, symbol, source, files, con, to_fetch) as shared,
        ):
            for item in files:
                path, relpath = source / item.relpath, str(item.relpath)
                try:
                    with shared.claim(relpath) if shared else nullcontext() as staged:
                        if relpath in to_fetch:
                            got = staged and staged.fetched  # a worker downloaded it, or not
                            got = got or ingest_days.fetch_one(downloader, item)
                            if not downloads.arrived(relpath, got):
                                bar.update()
                                continue
                        state, rows, superseded = _ingest_file(con, item, path, hasher, staged)
                except RejectedFile as exc:
                    state, rows, superseded = "rejected", 0, 0
                    rejected.append({"path": exc.path, "line": exc.line, "reason": exc.reason})
                    log.warning(
                        "ingest_file_rejected", path=exc.path, line=exc.line, reason=exc.reason
                    )
                outcome[item.dataset.name][state] += 1
                outcome[item.dataset.name]["rows"] += rows
                if superseded:  # REST or stream rows the archive's file replaced
                    outcome[item.dataset.name]["superseded"] += superseded
                bar.update()
            tables = warehouse.table_counts(con, symbol)
            if any(c["loaded"] or c["replaced"] for c in outcome.values()):
                warehouse.publish(con, symbol)
    except BaseException as exc:
        run.fail(exc)
        raise
    summary = {
        "files": len(files),
        "staged_by_workers": shared.by_workers if shared else 0,
        "datasets": {name: dict(counts) for name, counts in sorted(outcome.items())},
        "rejected": rejected,
        "tables": tables,
        **({"fetch": downloads.summary()} if fetch else {}),
        "seconds": round(time.monotonic() - started, 3),
    }
    totals = sum(outcome.values(), Counter())
    run.finish(summary, totals)
    log.info(
        "ingest_finished",
        symbol=symbol,
        files=len(files),
        rejected=len(rejected),
        rows=totals["rows"],
        duration_seconds=summary["seconds"],
    )
    return summary


@contextmanager
def _shared(spread: bool, symbol: str, source: Path, files, con, to_fetch: set[str]):
    """The workers' share of a spread ingest (None when not spread)."""
    if not spread or not files:
        yield None
        return
    shared = ingest_days.SharedIngest(symbol, source)
    try:
        known = warehouse.known_files(con, [str(f.relpath) for f in files])
        shared.queue(files, known, to_fetch)
        yield shared
    finally:
        shared.close()


def _ingest_file(
    con, item: archive.ArchiveFile, path: Path, hasher, staged: ingest_days.StagedFile | None
) -> tuple[str, int, int]:
    """Load one archive file; ``staged``: what a worker already did of it (hash, unzip)."""
    relpath = str(item.relpath)
    size = path.stat().st_size
    known = warehouse.find_file(con, relpath)
    if staged is not None:
        if staged.rejected is not None:
            raise staged.rejected
        if known is not None and (known.size, known.sha256) == (size, staged.sha256):
            return "skipped", 0, 0
        pending = hasher.submit(lambda: staged.sha256)
    elif known is not None and known.size == size:
        # maybe unchanged: the hash decides before any work is done
        digest = warehouse.sha256_of(path)
        if digest == known.sha256:
            return "skipped", 0, 0
        pending = hasher.submit(lambda: digest)
    else:
        # new or resized: hash on another thread while DuckDB parses (both release the GIL)
        pending = hasher.submit(warehouse.sha256_of, path)

    def verified_sha256() -> str:
        digest = pending.result()
        download.verify_checksum(path, relpath, digest)
        return digest

    log.debug("ingest_file_started", path=relpath, size=size)
    unzipped = staged.csv if staged is not None and staged.csv is not None else None
    with nullcontext(unzipped) if unzipped else csv_inside(path, relpath) as csv_path:
        header = sniff_header(relpath, first_line(csv_path), item.dataset)
        result = warehouse.load_file(
            con,
            dataset=item.dataset,
            csv_path=csv_path,
            header=header,
            relpath=relpath,
            symbol=item.symbol,
            interval=item.interval,
            sha256=verified_sha256,
            size=size,
        )
    return ("replaced" if result.replaced else "loaded"), result.rows, result.superseded


def stage_day(folder: str, symbol: str, source: str, files: list) -> dict:
    """A worker's share of a spread ingest: hash and unzip the files of one day that the
    loader has not reached yet. Does nothing once the ingest has ended."""
    counts = ingest_days.stage_files(Path(folder), symbol, Path(source), files)
    return {"symbol": symbol, "period": files[0][2] if files else None, **counts}


# What the models read; trades, bookDepth and index prices are large and optional.
DEFAULT_FETCH_DATASETS = "metrics,fundingRate,klines:5m,markPriceKlines:1m,liquidationSnapshot"


def files_to_fetch(
    symbol: str, start: date, end: date, datasets: str | None = None
) -> list[archive.ArchiveFile]:
    """The archive files ``fetch`` downloads (default: DEFAULT_FETCH_DATASETS)."""
    selections = archive.parse_selections(datasets or DEFAULT_FETCH_DATASETS, need_interval=True)
    return [f for s in selections for f in archive.expected_files(s, symbol, start, end)]


def fetch(
    symbol: str,
    start: date,
    end: date,
    *,
    datasets: str | None = None,
    progress: bool = False,
) -> dict:
    """Download the archive files of ``symbol`` for ``start``..``end`` into BINANCE_DATA_PATH.

    Files already present and matching their CHECKSUM are not downloaded again; days the
    server does not have (404) are reported as missing without failing the rest.
    """
    items = files_to_fetch(symbol, start, end, datasets)
    downloader, downloads = ingest_days.downloader(), ingest_days.Downloads()
    started = time.monotonic()
    for item in tqdm(items, unit="file", desc=f"fetch {symbol}", disable=not progress):
        downloads.arrived(str(item.relpath), ingest_days.fetch_one(downloader, item))
    summary = {
        "files": len(items),
        **downloads.summary(),
        "seconds": round(time.monotonic() - started, 3),
    }
    log.info(
        "fetch_finished",
        symbol=symbol,
        files=len(items),
        downloaded=summary["downloaded"],
        missing=len(summary["missing"]),
        failed=len(summary["failed"]),
        duration_seconds=summary["seconds"],
    )
    return summary


# --- the daily job (django-q2) ----------------------------------------------------------------
# The archive publishes a day's files the next morning (UTC): the daily job asks for the last
# few days, and fetch/ingest skip whatever they already have.
RECENT_DAYS = 3


class JobFailed(Exception):
    """A scheduled job that did not do its work: django-q2 records it as a failed task, with
    this message, in the admin's "Failed tasks"."""


def fetch_and_ingest(
    symbol: str, start: date | None = None, end: date | None = None, spread: bool = False
) -> dict:
    """Download and load the recent days (default: the last RECENT_DAYS full days). Fails when
    a download failed (after loading what did arrive): a day the archive has not published yet
    is "missing", not a failure. ``spread``: the qcluster's workers download, hash and unzip
    the days while this job loads them (a backfill of many days)."""
    end = end or date.today() - timedelta(days=1)
    start = start or end - timedelta(days=RECENT_DAYS - 1)
    if spread:
        return _fetch_and_ingest_spread(symbol, start, end)
    fetched = fetch(symbol, start, end)
    failed = fetched["failed"]
    if failed and len(failed) == fetched["files"]:
        raise JobFailed(f"every download failed ({len(failed)}): {_first_failure(failed)}")
    loaded = ingest(symbol, start, end)
    if failed:
        raise JobFailed(
            f"{len(failed)} of {fetched['files']} downloads failed, the rest were loaded: "
            f"{_first_failure(failed)}"
        )
    return {
        "fetch": fetched,
        "ingest": {k: loaded[k] for k in ("files", "datasets", "rejected", "seconds")},
    }


def _fetch_and_ingest_spread(symbol: str, start: date, end: date) -> dict:
    items = files_to_fetch(symbol, start, end)
    loaded = ingest(symbol, start, end, spread=True, fetch=items)
    fetched = loaded.pop("fetch")
    failed = fetched["failed"]
    if failed and len(failed) == len(items):
        raise JobFailed(f"every download failed ({len(failed)}): {_first_failure(failed)}")
    if failed:
        raise JobFailed(
            f"{len(failed)} of {len(items)} downloads failed, the rest were loaded: "
            f"{_first_failure(failed)}"
        )
    return {
        "fetch": {"files": len(items), **fetched},
        "ingest": {
            k: loaded[k] for k in ("files", "staged_by_workers", "datasets", "rejected", "seconds")
        },
    }


def _first_failure(failed: list[dict]) -> str:
    return f"{failed[0]['path']}: {failed[0]['reason']}" + (
        " (and more)" if len(failed) > 1 else ""
    )
