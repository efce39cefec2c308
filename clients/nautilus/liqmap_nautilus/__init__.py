"""liqmap's trading signals inside Nautilus Trader.

- ``client``: the HTTP client (token, timeouts, back-off; no signal means WAIT)
- ``data``: ``LiqmapSignal``, the custom data type published on Nautilus's message bus
- ``actor``: ``LiqmapSignalActor``, which polls liqmap (live: now; backtest: at the simulated
  clock) and publishes each answer
- ``strategy``: ``LiqmapTrend``, an hourly trend follower that can skip entries on AVOID/WAIT
  and fade REVERSAL_OPPORTUNITY
- ``backtest``: a ``BacktestEngine`` over an archive folder's 1-minute klines, with and without
  the filter
"""
