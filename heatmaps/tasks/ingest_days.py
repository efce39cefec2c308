"""One symbol's ingest shared by several workers, a task per day.

A symbol's warehouse file takes one writer, so the ingest job itself (the loader) loads every
file, in the order a plain ingest does: the rows, and the files' ids, are the same. What it
would do one file after another in Python (downloading when asked, hashing, unzipping) any
worker can do beforehand: the loader queues one ``tasks.stage_day`` per day (a month for
monthly files), the latest first, and walks the files from the earliest, so the workers and
the loader meet in between. DuckDB's parse stays with the loader, which spreads it over the
cores itself. A file is claimed with a lock beside its staged CSV: the loader takes the lock
(waiting while a worker stages that file) and loads the staged CSV, or does it all itself
when nobody did.

Claims are OS file locks, not the conditional row updates of STYLE.md: the kernel frees the
lock of a worker killed mid-file, so the loader never waits on a dead claim, and the run's own
lock, held by the loader while it lives, tells a worker whether anyone still wants its work.
The staged files live beside the warehouse (``<DUCKDB_PATH folder>/staging/``), so the workers
sharing an ingest share that folder and the archive's (one machine, or a shared disk).
"""

from __future__ import annotations

import contextlib
import functools
import json
import os
import shutil
import uuid
from collections import Counter
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path, PurePosixPath

import structlog
from django.conf import settings
from django_q.tasks import async_task
from filelock import FileLock, Timeout

from heatmaps import warehouse
from heatmaps.binance import archive, download
from heatmaps.binance.formats import DATASETS, RejectedFile
from heatmaps.binance.unpack import extract_csv

log = structlog.get_logger("liqmap.ingest")


def staging_root() -> Path:
    return Path(settings.DUCKDB_PATH).parent / "staging"


def downloader() -> download.Downloader:
    """The archive's downloader, into BINANCE_DATA_PATH."""
    return download.Downloader(
        base_url=settings.BINANCE_BASE_URL,
        root=Path(settings.BINANCE_DATA_PATH),
        retries=settings.FETCH_RETRIES,
        backoff_seconds=settings.FETCH_BACKOFF_SECONDS,
    )


def fetch_one(fetcher: download.Downloader, item: archive.ArchiveFile) -> str:
    """Download ``item``: "downloaded", "present", "missing" (not published) or
    "failed:<reason>" (after the retries)."""
    try:
        return fetcher.fetch(item)
    except download.NotPublished:
        return "missing"
    except Exception as exc:  # one bad file must not stop the others; each is reported
        log.warning("fetch_failed", path=str(item.relpath), reason=str(exc))
        return f"failed:{exc}"


class Downloads:
    """What the downloads of an ingest came to: ``fetch``'s summary, file by file."""

    def __init__(self):
        self.counts: Counter = Counter()
        self.missing: list[str] = []
        self.failed: list[dict] = []

    def arrived(self, relpath: str, outcome: str) -> bool:
        """Count ``fetch_one``'s ``outcome``; whether the file is there to load."""
        kind, _, reason = outcome.partition(":")
        self.counts[kind] += 1
        if kind == "missing":
            self.missing.append(relpath)
        elif kind == "failed":
            self.failed.append({"path": relpath, "reason": reason})
        return kind in ("downloaded", "present")

    def summary(self) -> dict:
        return {
            "downloaded": self.counts["downloaded"],
            "present": self.counts["present"],
            "missing": self.missing,
            "failed": self.failed,
        }


@dataclass(frozen=True)
class StagedFile:
    """What a worker found of one archive file: its sha256 (the loader compares it with the
    ledger), the CSV inside it (``csv``; None for a plain CSV, or a file already loaded), or
    why it cannot be read (``rejected``); and how its download went."""

    sha256: str | None
    csv: Path | None = None
    rejected: RejectedFile | None = None
    fetched: str | None = None  # a download's outcome, as fetch_one says it


def _key(relpath: str) -> str:
    return relpath.replace("/", "~")  # klines and markPriceKlines share file names


def claim_lock(folder: Path, relpath: str) -> Path:
    """The lock whose holder stages or loads ``relpath`` in the run ``folder``."""
    return folder / f"{_key(relpath)}.lock"


class SharedIngest:
    """The loader's side: its run folder, the stage tasks it queues, the claims it takes."""

    def __init__(self, symbol: str, source: Path):
        name = f"{symbol}-{uuid.uuid4().hex[:12]}"
        # made under a hidden name and renamed once its lock is held, so that no sweep takes
        # the new folder for an abandoned one
        starting = staging_root() / f".{name}"
        starting.mkdir(parents=True)
        self._alive = FileLock(starting / "run.lock")
        self._alive.acquire()
        self.folder = starting.rename(staging_root() / name)
        self.symbol, self.source = symbol, source
        self.by_workers = 0
        _sweep_abandoned(self.folder)

    def queue(
        self,
        files: list[archive.ArchiveFile],
        known: dict[str, tuple[int, str]],
        to_fetch: set[str] = frozenset(),
    ) -> int:
        """Queue a stage task per period (day or month) of ``files``, latest first; ``known``:
        relpath → (size, sha256) of the files already loaded; ``to_fetch``: the relpaths to
        download first. Returns the count queued."""
        days: dict[str, list] = {}
        for item in files:
            relpath = str(item.relpath)
            days.setdefault(item.period, []).append(
                (
                    item.dataset.name,
                    item.interval,
                    item.period,
                    relpath,
                    known.get(relpath),
                    relpath in to_fetch,
                )
            )
        for period in sorted(days, reverse=True):
            async_task(
                "heatmaps.tasks.stage_day",
                str(self.folder),
                self.symbol,
                str(self.source),
                days[period],
                group=self.folder.name,
                task_name=f"stage {self.symbol} {period}",
            )
        return len(days)

    @contextlib.contextmanager
    def claim(self, relpath: str) -> Iterator[StagedFile | None]:
        """Hold ``relpath``'s claim while the loader loads it: yields what a worker staged, or
        None (nobody did: the loader parses the file itself)."""
        key = _key(relpath)
        # django-q2 kills a task running longer than its timeout, which frees the lock: waiting
        # longer would wait on a worker that is stuck, not slow
        waited = settings.Q_CLUSTER["timeout"]
        lock = FileLock(claim_lock(self.folder, relpath), timeout=waited)
        try:
            lock.acquire()
        except Timeout:  # do it here, and ignore what the stuck worker leaves
            log.warning("stage_claim_timeout", path=relpath, seconds=waited)
            yield None
            return
        try:
            staged = _read_staged(self.folder, key)
            if staged is not None:
                self.by_workers += 1
            yield staged
        finally:
            (self.folder / f"{key}.done").touch()  # loaded or rejected: no worker's business
            lock.release()

    def close(self) -> None:
        """Stop the workers' remaining stage tasks (they find no run) and drop what they
        staged."""
        shutil.rmtree(self.folder, ignore_errors=True)
        self._alive.release()


def _sweep_abandoned(current: Path) -> None:
    """Remove the run folders of loaders that died (their run lock is free)."""
    for folder in current.parent.iterdir():
        if folder == current or folder.name.startswith(".") or not folder.is_dir():
            continue
        with contextlib.suppress(Timeout, OSError), FileLock(folder / "run.lock", timeout=0):
            shutil.rmtree(folder, ignore_errors=True)


def _read_staged(folder: Path, key: str) -> StagedFile | None:
    meta = folder / f"{key}.json"
    if not meta.exists():
        return None
    found = json.loads(meta.read_text())
    rejected = found.get("rejected")
    return StagedFile(
        sha256=found.get("sha256"),
        fetched=found.get("fetched"),
        csv=folder / f"{key}.csv" if found.get("unzipped") else None,
        rejected=RejectedFile(found["path"], rejected, None) if rejected else None,
    )


def _loader_alive(folder: Path) -> bool:
    if not folder.is_dir():  # the loader finished (a lock would make the folder again)
        return False
    try:
        with FileLock(folder / "run.lock", timeout=0):
            return False
    except Timeout:
        return True
    except OSError:  # the folder is gone: the loader finished
        return False


def stage_files(folder: Path, symbol: str, source: Path, files: list) -> dict:
    """The worker's side (``tasks.stage_day``): stage every file of ``files`` that nobody has
    claimed, while the loader still wants them. Returns counts of what it did."""
    counts: Counter = Counter()
    fetcher = downloader()
    for name, interval, period, relpath, known, fetch in files:
        item = archive.ArchiveFile(DATASETS[name], symbol, interval, period, PurePosixPath(relpath))
        stage = functools.partial(_stage, item=item, path=source / relpath, known=known)
        if fetch:
            stage = functools.partial(_fetch_and_stage, fetcher=fetcher, stage=stage)
        counts[_claim_and(stage, folder, relpath)] += 1
    return dict(counts)


def _claim_and(stage, folder: Path, relpath: str) -> str:
    """Run ``stage(folder, key)`` under ``relpath``'s claim, unless nobody needs it."""
    if not _loader_alive(folder):
        return "not_needed"  # the ingest finished (or died): nothing to stage for
    key = _key(relpath)
    try:
        with FileLock(claim_lock(folder, relpath), timeout=0):
            if (folder / f"{key}.done").exists() or (folder / f"{key}.json").exists():
                return "not_needed"
            return stage(folder, key)
    except Timeout:
        return "claimed_by_another"
    except OSError:
        if folder.is_dir():
            raise
        return "not_needed"  # the loader finished while this one worked


def _fetch_and_stage(folder: Path, key: str, *, fetcher, stage) -> str:
    got = fetch_one(fetcher, stage.keywords["item"])
    if got in ("downloaded", "present"):
        return stage(folder, key, fetched=got)
    _write_meta(folder, key, {"fetched": got})
    return got.partition(":")[0]


def _stage(
    folder: Path, key: str, *, item: archive.ArchiveFile, path: Path, known, fetched=None
) -> str:
    relpath = str(item.relpath)
    digest = warehouse.sha256_of(path)
    meta: dict = {"sha256": digest, "path": relpath, "fetched": fetched}
    if known is not None and tuple(known) == (path.stat().st_size, digest):
        outcome = "unchanged"  # not unzipped: the loader will skip it
    elif path.suffix.lower() == ".zip":
        target = folder / f"{key}.csv"
        try:
            extract_csv(path, relpath, target)
            meta["unzipped"] = True
            outcome = "unzipped"
        except RejectedFile as exc:
            target.unlink(missing_ok=True)
            meta["rejected"] = exc.reason
            outcome = "rejected"
    else:
        outcome = "hashed"
    _write_meta(folder, key, meta)
    return outcome


def _write_meta(folder: Path, key: str, meta: dict) -> None:
    partial = folder / f"{key}.json.partial"
    partial.write_text(json.dumps(meta))
    os.replace(partial, folder / f"{key}.json")  # the json says the staging is whole
