"""A consistent copy of each symbol's warehouse file, taken while holding its writer lock (no
job writes it meanwhile), for backups: the REST and stream rows exist nowhere else."""

from __future__ import annotations

import os
import shutil
from pathlib import Path

from .connection import IO_ERRORS, connect, path_of, reported


def backup(symbol: str, folder: Path) -> Path:
    """Copy ``symbol``'s warehouse into ``folder`` (atomically: a ``.partial`` until whole) and
    return the copy. Waits for the writer lock like any writer (WarehouseBusy after
    WAREHOUSE_LOCK_TIMEOUT)."""
    source = path_of(symbol)
    target = Path(folder) / source.name
    with connect(symbol) as con:
        con.execute("CHECKPOINT")  # everything in the file, nothing left in its WAL
        with reported(target, (OSError, *IO_ERRORS)):
            target.parent.mkdir(parents=True, exist_ok=True)
            partial = target.with_name(target.name + ".partial")
            shutil.copyfile(source, partial)
            os.replace(partial, target)
    return target
