"""Opening the warehouse to write: the writer lock (who holds it, how long to wait for it), the
one exception for a warehouse that cannot be opened or written (the one transaction every
multi-statement write runs in is ``transactions.transaction``).

DuckDB takes one writer per file, so the warehouse is one file per symbol (``path_of``):
writers of different symbols (several qcluster workers) never wait for each other. Writers go
through ``connect(symbol)``, which holds a file lock beside that symbol's file for as long as
they write.
"""

from __future__ import annotations

import contextlib
import errno
import json
import os
import re
import shlex
import sys
from collections.abc import Iterator
from datetime import UTC, datetime
from pathlib import Path

import duckdb
import structlog
from django.conf import settings
from filelock import FileLock, Timeout

from . import schema

_log = structlog.get_logger("liqmap.warehouse")

# DuckDB's ways of saying the file could not be opened or written (not a bug in a query);
# a COMMIT that cannot write says so as a TransactionException ("Failed to commit: ...").
IO_ERRORS = (
    duckdb.IOException,
    duckdb.PermissionException,
    duckdb.FatalException,
    duckdb.TransactionException,
)


class WarehouseError(Exception):
    """The warehouse cannot be opened or written. The message is one line naming the path and
    the cause: the commands print it as it is."""


class WarehouseBusy(WarehouseError):
    """Another writer held the warehouse for longer than WAREHOUSE_LOCK_TIMEOUT."""


# what a symbol may be: it names files and folders
SYMBOL = re.compile(r"^[A-Z0-9]{2,20}$")


def path_of(symbol: str) -> Path:
    """The warehouse file of ``symbol``: ``DUCKDB_PATH`` with the symbol after its stem
    (``liquidations.duckdb`` → ``liquidations-BTCUSDT.duckdb``)."""
    if not SYMBOL.match(symbol):  # it becomes a file name
        raise ValueError(f"not a symbol: {symbol!r} (capital letters and digits, e.g. BTCUSDT)")
    base = Path(settings.DUCKDB_PATH)
    return base.with_name(f"{base.stem}-{symbol}{base.suffix}")


def stored_symbols() -> list[str]:
    """Symbols that have a warehouse file, sorted."""
    base = Path(settings.DUCKDB_PATH)
    prefix = f"{base.stem}-"
    names = (path.stem[len(prefix) :] for path in base.parent.glob(f"{prefix}*{base.suffix}"))
    return sorted(name for name in names if SYMBOL.match(name))


@contextlib.contextmanager
def connect(
    symbol: str, *, path: Path | None = None, all_cores: bool = False
) -> Iterator[duckdb.DuckDBPyConnection]:
    """Open ``symbol``'s warehouse (or the file at ``path``) to write: hold its writer lock,
    bring its schema up to date. ``all_cores``: ignore DUCKDB_THREADS (a spread ingest's
    loader, whose helpers run one thread each and are soon done).

    Raises WarehouseError when the folder or file cannot be created, opened or written (and
    WarehouseBusy when another writer holds the lock too long).
    """
    path = Path(path) if path else path_of(symbol)
    with contextlib.ExitStack() as stack:
        with reported(path, (OSError, *IO_ERRORS)):
            _make_folder(path.parent)
            stack.enter_context(writer_lock(path))
            con = duckdb.connect(str(path))
        # from here an OSError is the caller's (an archive file, say), not the warehouse's
        with reported(path, IO_ERRORS):
            try:
                con.execute("SET enable_progress_bar = false")
                # Rows are always read back with ORDER BY: letting DuckDB insert in any order
                # makes loading a file about 8 % faster (measured in bench/ingest.py).
                con.execute("SET preserve_insertion_order = false")
                if settings.DUCKDB_THREADS and not all_cores:  # writers side by side share
                    con.execute(f"SET threads = {int(settings.DUCKDB_THREADS)}")
                schema.migrate(con)
                yield con
            except BaseException:
                with contextlib.suppress(duckdb.Error):  # the first failure is the one to tell
                    con.close()
                raise
            con.close()


@contextlib.contextmanager
def writer_lock(path: Path, timeout: float | None = None) -> Iterator[None]:
    """Hold the writer lock of the warehouse at ``path``, recording who holds it beside it.

    Waits at most ``timeout`` seconds (default WAREHOUSE_LOCK_TIMEOUT; negative: forever) and
    logs the holder once when it has to wait; then WarehouseBusy naming the holder.
    """
    timeout = settings.WAREHOUSE_LOCK_TIMEOUT if timeout is None else timeout
    lock = FileLock(f"{path}.lock")
    try:
        lock.acquire(timeout=0)
    except Timeout:
        _log.warning("warehouse_lock_wait", path=str(path), holder=_holder(path), timeout=timeout)
        try:
            lock.acquire(timeout=timeout)
        except Timeout:
            raise WarehouseBusy(
                f"the warehouse {path} is being written by {_holder(path)}; "
                f"gave up after {timeout:g} s"
            ) from None
    owner = _owner_file(path)
    try:
        owner.write_text(
            json.dumps(
                {
                    "pid": os.getpid(),
                    "command": _command_line(),
                    "since": datetime.now(UTC).isoformat(timespec="seconds"),
                }
            )
        )
        yield
    finally:
        owner.unlink(missing_ok=True)
        lock.release()


def _make_folder(folder: Path) -> None:
    try:
        folder.mkdir(parents=True, exist_ok=True)
    except FileExistsError:  # mkdir's word for "it is a file", which reads as no error at all
        raise NotADirectoryError(errno.ENOTDIR, os.strerror(errno.ENOTDIR), str(folder)) from None


def _command_line() -> str:
    """This process's command on one line, shortened: it goes into a one-line message."""
    words = shlex.join([Path(sys.argv[0]).name, *sys.argv[1:]]).split()
    line = " ".join(words)
    return line if len(line) <= 120 else line[:119] + "…"


def _owner_file(path: Path) -> Path:
    return Path(f"{path}.lock.owner")


def _holder(path: Path) -> str:
    try:
        owner = json.loads(_owner_file(path).read_text())
        since = datetime.fromisoformat(owner["since"])
        return f"pid {owner['pid']} ({owner['command']}) since {since:%Y-%m-%d %H:%M:%S} UTC"
    except (OSError, ValueError, KeyError, TypeError):
        return "a process that did not say who it is"


@contextlib.contextmanager
def reported(path: Path, errors: tuple[type[BaseException], ...]) -> Iterator[None]:
    """``errors`` raised inside become a one-line WarehouseError naming ``path``."""
    try:
        yield
    except errors as exc:
        raise WarehouseError(f"cannot write {path}: {_cause(exc)}") from exc


def _cause(exc: BaseException) -> str:
    """The reason of an OS or DuckDB error on one line."""
    if isinstance(exc, OSError) and exc.strerror:
        return exc.strerror
    return " ".join(str(exc).split())
