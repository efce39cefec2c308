"""Paper trading: does the signal filter improve a simple strategy? (DESIGN §6)

The baseline is hourly trend following: long while the close is above its 24-hour mean, short
below it. The filtered strategy trades the same, except that it stays flat in the hours whose
signal is AVOID (a liquidation cluster within 2 %) or WAIT (the models are not confident).
Both pay ``fee`` per unit of position changed. P&L is a sum of hourly returns (a fraction of the
capital, not compounded).
"""

from __future__ import annotations

import numpy as np
import pandas as pd

from .signals import trading_signal

FLAT_ON = ("AVOID", "WAIT")


def signal_history(
    heatmap: pd.DataFrame,
    closes: pd.Series,
    realized: pd.Series,
    predicted: pd.Series,
    confidence: pd.Series | float,
    step: float,
) -> pd.Series:
    """The action the signals endpoint would have given at each hourly snapshot.

    heatmap: time_bucket (ms), price_bucket, volume (sides summed per bucket); closes: price at
    each snapshot, indexed by time ms; realized, predicted: notional per hour ending at each
    snapshot, same index; confidence: the model's at each snapshot, as a run ending then
    reported it (same index: a later run's would look ahead), or one for all.
    """
    if not isinstance(confidence, pd.Series):
        confidence = pd.Series(confidence, index=closes.index)
    day = realized.rolling(24, min_periods=1).sum()
    actions = {}
    # one evaluation per hour of history (the backtest, not a hot path)
    for time, levels in heatmap.groupby("time_bucket"):
        if time not in closes.index:
            continue
        actions[time] = trading_signal(
            levels,
            float(closes[time]),
            float(confidence.get(time, 0.0)),  # no confidence known then: WAIT
            float(realized.get(time, 0.0)),
            float(predicted.get(time, 0.0)),
            float(day.get(time, 0.0)),
            step=step,
        )["action"]
    return pd.Series(actions, dtype=object).sort_index()


def paper_trade(closes: pd.Series, actions: pd.Series, fee: float = 0.0004) -> dict:
    """P&L of the baseline and of the signal-filtered strategy over ``closes`` (hourly).

    Returns pnl and trades of both, hours flat because of the filter, and hours traded.
    """
    closes = closes.sort_index()
    trend = np.sign(closes - closes.rolling(24, min_periods=24).mean()).fillna(0.0)
    filtered = trend.where(~actions.reindex(closes.index).isin(FLAT_ON), 0.0)
    returns = closes.pct_change().shift(-1).fillna(0.0)  # held from this close to the next
    out = {"hours": int(len(closes))}
    for name, position in (("baseline", trend), ("filtered", filtered)):
        turnover = position.diff().abs().fillna(position.abs())
        out[name] = {
            "pnl": float((position * returns).sum() - fee * turnover.sum()),
            "trades": int((turnover > 0).sum()),
        }
    out["hours_flat_by_filter"] = int(((trend != 0) & (filtered == 0)).sum())
    return out
