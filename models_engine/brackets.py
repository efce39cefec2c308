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

# BTCUSDT brackets, snapshot of Binance's leverage & margin table as given in liqmap's design
# (DESIGN.md §5, taken 2024). cum is derived so that the maintenance margin is continuous.
BTCUSDT_BRACKETS_AS_OF = "2024-01-01"


def _brackets(rows: list[tuple[float, float, int, float]]) -> pd.DataFrame:
    frame = pd.DataFrame(rows, columns=["floor", "cap", "max_leverage", "mmr"])
    # cum_i = cum_{i-1} + floor_i·(mmr_i − mmr_{i-1}): Binance's "maintenance amount".
    step = frame["floor"] * frame["mmr"].diff().fillna(frame["mmr"].iloc[0])
    frame["cum"] = (step - frame["floor"].iloc[0] * frame["mmr"].iloc[0]).cumsum()
    return frame


BTCUSDT_BRACKETS = _brackets(
    [
        (0, 50_000, 125, 0.004),
        (50_000, 250_000, 100, 0.005),
        (250_000, 3_000_000, 50, 0.01),
        (3_000_000, 20_000_000, 20, 0.025),
        (20_000_000, 40_000_000, 10, 0.05),
        (40_000_000, 100_000_000, 5, 0.10),
        (100_000_000, 120_000_000, 4, 0.125),
        (120_000_000, 200_000_000, 3, 0.15),
        (200_000_000, 300_000_000, 2, 0.25),
        (300_000_000, 500_000_000, 1, 0.50),
    ]
)


def bracket_of(notional, brackets: pd.DataFrame = BTCUSDT_BRACKETS) -> np.ndarray:
    """Index of the bracket each notional (USDT) falls in; above the last cap, the last."""
    floors = brackets["floor"].to_numpy(dtype=float)
    index = np.searchsorted(floors, np.asarray(notional, dtype=float), side="right") - 1
    return np.clip(index, 0, len(floors) - 1)


def liquidation_price(
    entry,
    leverage,
    side,
    notional,
    brackets: pd.DataFrame = BTCUSDT_BRACKETS,
) -> np.ndarray | float:
    """Liquidation price of isolated positions.

    Parameters
    ----------
    entry : float or array, USDT per coin
    leverage : float or array, e.g. 10 for 10x; capped to the bracket's maximum
    side : "long" / "short", or an array of them (or of booleans, True = long)
    notional : float or array, USDT (qty × entry); picks the bracket
    brackets : DataFrame with floor, cap, max_leverage, mmr, cum

    Returns
    -------
    float or array, USDT per coin. Example: ``liquidation_price(100_000, 100, "long", 10_000)``
    gives 99,397.6.
    """
    entry_a = np.asarray(entry, dtype=float)
    notional_a = np.asarray(notional, dtype=float)
    if np.any(notional_a <= 0):
        raise ValueError("notional must be positive")
    index = bracket_of(notional_a, brackets)
    mmr = brackets["mmr"].to_numpy()[index]
    cum = brackets["cum"].to_numpy()[index]
    cap = brackets["max_leverage"].to_numpy()[index]
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
