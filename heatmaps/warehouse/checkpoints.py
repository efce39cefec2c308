"""The models' checkpoints: each member's ledger state after a calculate, kept per symbol
beside the warehouse so that the one-minute update continues it on the new bars only.

A checkpoint is only as good as what it was computed from, so it carries a stamp of that:
the models' code, the bracket tables, and how many rows of each input lay before the state's
end. When any of them changes (an upgrade, ``fetch_brackets``, an archive file superseding
the REST rows of a past day, a backfill before the checkpoint) ``load`` returns nothing and
the caller recomputes in full. A new calibration is caught by the engine itself (StaleState).

The file is a pickle written by liqmap's own jobs into the data folder: it is trusted as much
as the warehouse next to it, and replaced atomically so a killed job leaves the previous one.
"""

from __future__ import annotations

import functools
import hashlib
import os
import pickle
from dataclasses import dataclass
from pathlib import Path

import duckdb
from django.conf import settings

import models_engine
from models_engine.incremental import LedgerState

from .connection import reported

# the inputs a ledger state was built from, and their time column (agg_trades only ever come
# from archive files, which the files' count covers; the other tables take REST rows too)
_STAMPED = {
    "klines": "open_time",
    "mark_price_klines": "open_time",
    "metrics": "create_time",
    "funding_rate": "calc_time",
}


@dataclass(frozen=True)
class Checkpoint:
    """The members' states (by model name), all at the same end, what they were computed
    from, and the end of the bars the stored rows were computed for (``as_of``)."""

    states: dict[str, LedgerState]
    stamp: tuple
    as_of: int

    @property
    def end(self) -> int:
        return next(iter(self.states.values())).end


def folder() -> Path:
    return Path(settings.DUCKDB_PATH).parent / "checkpoints"


def path_of(symbol: str) -> Path:
    return folder() / f"{symbol}.pickle"


def stamp(con: duckdb.DuckDBPyConnection, symbol: str, end_ms: int, brackets: object) -> tuple:
    """What a state ending at ``end_ms`` depends on besides its calibrations."""
    counts = tuple(
        con.execute(
            f"SELECT count(*) FROM {table} WHERE symbol = ? AND {column} < epoch_ms(?)",
            [symbol, end_ms],
        ).fetchone()[0]
        for table, column in _STAMPED.items()
    )
    files = con.execute(
        "SELECT count(*), coalesce(max(id), 0) FROM ingested_files WHERE symbol = ?", [symbol]
    ).fetchone()
    brackets_key = hashlib.sha256(pickle.dumps(brackets)).hexdigest()
    return (_engine_version(), brackets_key, counts, tuple(files))


def save(symbol: str, states: dict[str, LedgerState], con, brackets: object, *, as_of: int) -> Path:
    """Replace ``symbol``'s checkpoint (atomically)."""
    end = next(iter(states.values())).end
    checkpoint = Checkpoint(states, stamp(con, symbol, end, brackets), as_of)
    path = path_of(symbol)
    with reported(path, (OSError,)):
        path.parent.mkdir(parents=True, exist_ok=True)
        partial = path.with_suffix(".partial")
        partial.write_bytes(pickle.dumps(checkpoint, protocol=pickle.HIGHEST_PROTOCOL))
        os.replace(partial, path)
    return path


def load(symbol: str, con, brackets: object) -> tuple[Checkpoint | None, str]:
    """``symbol``'s checkpoint if it still holds, else None and why not."""
    path = path_of(symbol)
    try:
        checkpoint = pickle.loads(path.read_bytes())
    except FileNotFoundError:
        return None, "no checkpoint yet"
    except (OSError, pickle.UnpicklingError, AttributeError, ImportError, EOFError) as exc:
        return None, f"checkpoint unreadable ({type(exc).__name__})"
    if not isinstance(checkpoint, Checkpoint) or not checkpoint.states:
        return None, "checkpoint unreadable"
    if checkpoint.stamp != stamp(con, symbol, checkpoint.end, brackets):
        return None, "the data, bracket tables or models changed since the checkpoint"
    return checkpoint, ""


def discard(symbol: str) -> None:
    path_of(symbol).unlink(missing_ok=True)


@functools.cache
def _engine_version() -> str:
    """A digest of the engine's source: an upgrade of the models invalidates every state."""
    digest = hashlib.sha256()
    for source in sorted(Path(models_engine.__file__).parent.glob("*.py")):
        digest.update(source.read_bytes())
    return digest.hexdigest()
