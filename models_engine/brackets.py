"""Binance USDⓈ-M maintenance-margin brackets and the isolated-margin liquidation price.

For an isolated one-way position with initial margin N/L (notional N, leverage L) Binance
liquidates when the margin left equals the maintenance margin ``N·MMR − cum``, which gives

    long:  LP = EP·((1 − 1/L) − cum/N) / (1 − MMR)
    short: LP = EP·((1 + 1/L) + cum/N) / (1 + MMR)

with MMR and cum ("maintenance amount") from the bracket the notional falls in. The spec's
``1 ± 1/L ± mmr/L`` and py-liquidation-map's ``1 ± 1/L`` are not used: the first is wrong,
the second ignores the maintenance margin.
"""

from __future__ import annotations

import numpy as np
import pandas as pd

from . import bracket_tables

COLUMNS = ["effective_from", "floor", "cap", "max_leverage", "mmr", "cum"]


class UnknownBrackets(ValueError):
    """No maintenance-margin table for a symbol: its liquidation levels cannot be placed."""


def bracket_table(rows, effective_from: int = 0) -> pd.DataFrame:
    """One version of a symbol's table, in force from ``effective_from`` (ms).

    rows : (floor, cap, max_leverage, mmr) or (floor, cap, max_leverage, mmr, cum), notional in
        USDT, floors ascending; without cum it is derived so that the maintenance margin
        ``N·mmr − cum`` is continuous at every floor (how Binance computes its own).
    """
    rows = [tuple(r) for r in rows]
    if not rows:
        raise ValueError("a bracket table needs at least one bracket")
    frame = pd.DataFrame([r[:4] for r in rows], columns=COLUMNS[1:5]).astype(float)
    if all(len(r) == 5 for r in rows):
        frame["cum"] = [float(r[4]) for r in rows]
    else:
        # cum_i = cum_{i-1} + floor_i·(mmr_i − mmr_{i-1}): Binance's "maintenance amount".
        step = frame["floor"] * frame["mmr"].diff().fillna(frame["mmr"].iloc[0])
        frame["cum"] = (step - frame["floor"].iloc[0] * frame["mmr"].iloc[0]).cumsum()
    if not frame["floor"].is_monotonic_increasing or (frame["mmr"] <= 0).any():
        raise ValueError("bracket floors must ascend and every rate be positive")
    frame.insert(0, "effective_from", np.int64(effective_from))
    return frame


def dated_brackets(versions) -> pd.DataFrame:
    """Several versions of one symbol's table as one frame, oldest first; a later version with
    the same ``effective_from`` replaces an earlier one (a table fetched again the same day)."""
    frames = {int(v["effective_from"].iloc[0]): v for v in versions}
    if not frames:
        raise ValueError("no bracket tables")
    return pd.concat([frames[t] for t in sorted(frames)], ignore_index=True)[COLUMNS]


def packaged_brackets(symbol: str) -> list[pd.DataFrame]:
    """The versions of ``symbol``'s table shipped with liqmap (bracket_tables), oldest first;
    empty for a symbol without one."""
    return [
        bracket_table(rows, _day_ms(day)) for day, rows in bracket_tables.TABLES.get(symbol, ())
    ]


def brackets_for(symbol: str, fetched=()) -> pd.DataFrame:
    """Every dated version of ``symbol``'s table: the packaged ones and ``fetched`` (frames from
    ``bracket_table``, e.g. what Binance's API answered later). Raises UnknownBrackets when
    there is none: a borrowed table would move every level by the difference in rates."""
    versions = [*packaged_brackets(symbol), *fetched]
    if not versions:
        raise UnknownBrackets(
            f"no maintenance-margin brackets for {symbol} "
            f"(liqmap ships {', '.join(bracket_tables.TABLES)})"
        )
    return dated_brackets(versions)


def _day_ms(day: str) -> int:
    return int(pd.Timestamp(day, tz="UTC").value // 1_000_000)


def version_at(brackets: pd.DataFrame, at) -> np.ndarray:
    """Index (into the distinct ``effective_from`` values) of the version in force at each
    time ``at`` (ms): the latest that starts at or before it. A time before the first version
    gets the first (the oldest table known is the best guess for what came before it)."""
    starts = np.unique(brackets["effective_from"].to_numpy(np.int64))
    index = np.searchsorted(starts, np.asarray(at, dtype=np.int64), side="right") - 1
    return np.clip(index, 0, len(starts) - 1)


BTCUSDT_BRACKETS = dated_brackets(packaged_brackets("BTCUSDT"))
BTCUSDT_BRACKETS_AS_OF = bracket_tables.TABLES["BTCUSDT"][-1][0]


def bracket_of(notional, brackets: pd.DataFrame = BTCUSDT_BRACKETS) -> np.ndarray:
    """Index of the bracket each notional (USDT) falls in, in the latest version of the table;
    above the last cap, the last."""
    latest = brackets[brackets["effective_from"] == brackets["effective_from"].max()]
    floors = latest["floor"].to_numpy(dtype=float)
    index = np.searchsorted(floors, np.asarray(notional, dtype=float), side="right") - 1
    return np.clip(index, 0, len(floors) - 1)


def _terms(notional: np.ndarray, brackets: pd.DataFrame, at) -> tuple[np.ndarray, ...]:
    """(mmr, cum, max leverage) of each notional under the version in force at its time."""
    starts = np.unique(brackets["effective_from"].to_numpy(np.int64))
    version = np.full(notional.shape, len(starts) - 1)
    if at is not None:
        version = np.broadcast_to(version_at(brackets, at), notional.shape)
    mmr, cum, cap = (np.empty(notional.shape) for _ in range(3))
    for k, start in enumerate(starts):  # a handful of dated tables, not one pass per position
        table = brackets[brackets["effective_from"] == start]
        mine = version == k
        index = bracket_of(notional[mine], table)
        mmr[mine] = table["mmr"].to_numpy()[index]
        cum[mine] = table["cum"].to_numpy()[index]
        cap[mine] = table["max_leverage"].to_numpy()[index]
    return mmr, cum, cap


def liquidation_price(
    entry,
    leverage,
    side,
    notional,
    brackets: pd.DataFrame = BTCUSDT_BRACKETS,
    at=None,
) -> np.ndarray | float:
    """Liquidation price of isolated positions.

    Parameters
    ----------
    entry : float or array, USDT per coin
    leverage : float or array, e.g. 10 for 10x; capped to the bracket's maximum
    side : "long" / "short", or an array of them (or of booleans, True = long)
    notional : float or array, USDT (qty × entry); picks the bracket
    brackets : DataFrame with effective_from, floor, cap, max_leverage, mmr, cum: one or more
        dated versions of the symbol's table (``dated_brackets``)
    at : int or array, ms; when each position was opened: it is valued under the version in
        force then. None = the latest version

    Returns
    -------
    float or array, USDT per coin. Example: ``liquidation_price(100_000, 100, "long", 10_000)``
    gives 99,397.6.
    """
    entry_a = np.asarray(entry, dtype=float)
    shape = np.broadcast_shapes(np.shape(entry), np.shape(notional), np.shape(at))
    notional_a = np.broadcast_to(np.asarray(notional, dtype=float), shape)
    if np.any(notional_a <= 0):
        raise ValueError("notional must be positive")
    mmr, cum, cap = _terms(notional_a, brackets, at)
    lev = np.minimum(np.asarray(leverage, dtype=float), cap)
    is_long = _is_long(side)
    long_lp = entry_a * ((1 - 1 / lev) - cum / notional_a) / (1 - mmr)
    short_lp = entry_a * ((1 + 1 / lev) + cum / notional_a) / (1 + mmr)
    result = np.where(is_long, long_lp, short_lp)
    return float(result) if result.ndim == 0 else result


def _is_long(side) -> np.ndarray:
    side_a = np.asarray(side)
    if side_a.dtype == bool:
        return side_a
    lowered = np.char.lower(side_a.astype(str))
    if not np.all(np.isin(lowered, ["long", "short"])):
        raise ValueError("side must be 'long' or 'short'")
    return lowered == "long"
