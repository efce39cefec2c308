"""A Nautilus backtest of ``LiqmapTrend`` over an archive folder's 1-minute klines, with the
``LiqmapSignalActor`` polling a liqmap server at the simulated times; run with and without
the signal filter and compared.

    python -m liqmap_nautilus.backtest --archive data/sample/sim-dev --start 2024-01-01 \\
        --end 2024-01-10 --server http://127.0.0.1:8000 --token $LIQMAP_TOKEN [--json out.json]
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import time
from datetime import date, timedelta
from decimal import Decimal
from pathlib import Path

import pandas as pd
from nautilus_trader.backtest.engine import BacktestEngine, BacktestEngineConfig
from nautilus_trader.config import LoggingConfig
from nautilus_trader.model.currencies import BTC, USDT
from nautilus_trader.model.data import BarType
from nautilus_trader.model.enums import AccountType, OmsType
from nautilus_trader.model.identifiers import InstrumentId, Symbol, TraderId, Venue
from nautilus_trader.model.instruments import CryptoPerpetual
from nautilus_trader.model.objects import Money, Price, Quantity
from nautilus_trader.persistence.wranglers import BarDataWrangler

from .actor import LiqmapSignalActor, LiqmapSignalActorConfig
from .strategy import LiqmapTrend, LiqmapTrendConfig

KLINE_COLUMNS = ["open_time", "open", "high", "low", "close", "volume"]
STARTING_USDT = 100_000
# Binance USDⓈ-M's regular taker fee, the fee liqmap's paper_trade charges per unit traded
TAKER_FEE = Decimal("0.0004")


def perpetual(symbol: str, venue: str = "BINANCE") -> CryptoPerpetual:
    """A Binance linear perpetual like ``<symbol>-PERP`` (BTC's precisions; fees above)."""
    return CryptoPerpetual(
        instrument_id=InstrumentId(Symbol(f"{symbol}-PERP"), Venue(venue)),
        raw_symbol=Symbol(symbol),
        base_currency=BTC,
        quote_currency=USDT,
        settlement_currency=USDT,
        is_inverse=False,
        price_precision=1,
        size_precision=3,
        price_increment=Price.from_str("0.1"),
        size_increment=Quantity.from_str("0.001"),
        max_quantity=Quantity.from_str("1000.000"),
        min_quantity=Quantity.from_str("0.001"),
        max_notional=None,
        min_notional=Money(5, USDT),
        max_price=Price.from_str("1000000.0"),
        min_price=Price.from_str("0.1"),
        margin_init=Decimal("0.05"),
        margin_maint=Decimal("0.025"),
        maker_fee=Decimal("0.0002"),
        taker_fee=TAKER_FEE,
        ts_event=0,
        ts_init=0,
    )


def read_klines(archive: Path, symbol: str, start: date, end: date) -> pd.DataFrame:
    """The 1-minute klines of ``start``..``end`` from the archive layout (daily zip or CSV,
    with or without the header), indexed by each bar's close time (Nautilus stamps a bar
    when it closes; Binance by its open)."""
    folder = archive / "data" / "futures" / "um" / "daily" / "klines" / symbol / "1m"
    frames, day = [], start
    while day <= end:
        stem = folder / f"{symbol}-1m-{day:%Y-%m-%d}"
        path = next(
            (p for p in (stem.with_suffix(".zip"), stem.with_suffix(".csv")) if p.exists()), None
        )
        if path is None:
            raise SystemExit(f"no 1m klines for {symbol} on {day} in {folder}")
        frame = pd.read_csv(path, header=None, usecols=range(6), names=KLINE_COLUMNS)
        if not str(frame.iloc[0, 0]).isdigit():  # the header row of 2022+ files
            frame = frame.iloc[1:]
        frames.append(frame.astype(float))
        day += timedelta(days=1)
    bars = pd.concat(frames, ignore_index=True)
    open_ms = bars.pop("open_time").astype("int64")
    unit = "us" if open_ms.iloc[0] > 10**14 else "ms"  # the archive moved to µs in 2025
    bars.index = pd.to_datetime(open_ms, unit=unit, utc=True) + pd.Timedelta(minutes=1)
    bars.index.name = "timestamp"
    return bars


def run_once(bars, instrument, args, use_filter: bool) -> dict:
    engine = BacktestEngine(
        BacktestEngineConfig(
            trader_id=TraderId("LIQMAP-001"),
            logging=LoggingConfig(log_level=args.log_level),
        )
    )
    venue = instrument.id.venue
    engine.add_venue(
        venue=venue,
        oms_type=OmsType.NETTING,  # one-way mode, as Binance futures default
        account_type=AccountType.MARGIN,
        base_currency=USDT,
        starting_balances=[Money(STARTING_USDT, USDT)],
        default_leverage=Decimal(10),
    )
    engine.add_instrument(instrument)
    bar_type = BarType.from_str(f"{instrument.id}-1-MINUTE-LAST-EXTERNAL")
    engine.add_data(BarDataWrangler(bar_type, instrument).process(bars))
    actor = LiqmapSignalActor(
        LiqmapSignalActorConfig(
            base_url=args.server,
            token=args.token,
            symbol=args.symbol,
            interval_secs=args.interval,
            retries=args.retries,
            bar_type=bar_type,
        )
    )
    strategy = LiqmapTrend(
        LiqmapTrendConfig(
            instrument_id=instrument.id,
            bar_type=bar_type,
            symbol=args.symbol,
            notional=Decimal(STARTING_USDT),
            use_filter=use_filter,
            on_block=args.on_block,
            fade_reversals=args.fade,
        )
    )
    engine.add_actor(actor)  # before the strategy: at an hour, the signal lands before the bar
    engine.add_strategy(strategy)
    started = time.perf_counter()
    engine.run()
    seconds = time.perf_counter() - started
    fills = engine.trader.generate_order_fills_report()
    result = summarize(strategy, actor, len(fills), seconds)
    engine.dispose()
    return result


def summarize(strategy: LiqmapTrend, actor: LiqmapSignalActor, trades: int, seconds: float) -> dict:
    equity = pd.Series([e for _, e in strategy.equity], dtype=float)
    peak = equity.cummax()
    return {
        "pnl_usdt": round(float(equity.iloc[-1] - STARTING_USDT), 2),
        "pnl_pct": round(100 * float(equity.iloc[-1] / STARTING_USDT - 1), 3),
        "max_drawdown_pct": round(100 * float(((peak - equity) / peak).max()), 3),
        "trades": trades,
        "signals_received": len(actor.received),
        "signals_by_action": dict(strategy.seen),
        "signals_from_server": sum(s.source == "server" for s in actor.received),
        "acted": dict(strategy.acted),
        "decisions": [
            {"time": _iso(t), "signal_time": _iso(st), "action": a, "trend": tr, "target": tg}
            for t, st, a, tr, tg in strategy.decisions
        ],
        "signals": [
            {"requested_at": s.requested_at, "as_of": s.as_of, "action": s.action}
            for s in actor.received
        ],
        "seconds": round(seconds, 2),
    }


def _iso(ns: int | None) -> str | None:
    return None if ns is None else pd.Timestamp(ns, tz="UTC").strftime("%Y-%m-%dT%H:%M:%SZ")


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--archive", type=Path, required=True, help="holds data/futures/um/...")
    parser.add_argument("--symbol", default="BTCUSDT")
    parser.add_argument("--start", type=date.fromisoformat, required=True)
    parser.add_argument("--end", type=date.fromisoformat, required=True, help="last day, included")
    parser.add_argument("--server", default=os.environ.get("LIQMAP_URL", "http://127.0.0.1:8000"))
    parser.add_argument("--token", default=os.environ.get("LIQMAP_TOKEN"))
    parser.add_argument("--interval", type=int, default=3600, help="seconds between polls")
    parser.add_argument("--retries", type=int, default=3, help="per poll, after the first try")
    parser.add_argument("--on-block", choices=("flat", "hold"), default="flat")
    parser.add_argument("--fade", action="store_true", help="fade REVERSAL_OPPORTUNITY")
    parser.add_argument("--log-level", default="WARNING")
    parser.add_argument("--json", type=Path, help="write the summary here")
    args = parser.parse_args(argv)
    if not args.token:
        parser.error("--token (or LIQMAP_TOKEN) is required")
    instrument = perpetual(args.symbol)
    bars = read_klines(args.archive, args.symbol, args.start, args.end)
    runs = {
        name: run_once(bars, instrument, args, flag)
        for name, flag in (("unfiltered", False), ("filtered", True))
    }
    print(
        f"{args.symbol} {args.start}..{args.end}: {len(bars)} 1-minute bars, "
        f"liqmap at {args.server}"
    )
    for name, r in runs.items():
        print(
            f"  {name:<10} P&L {r['pnl_pct']:+.2f} % ({r['pnl_usdt']:+,.0f} USDT), max drawdown "
            f"{r['max_drawdown_pct']:.2f} %, {r['trades']} trades, {r['signals_received']} signals "
            f"{r['signals_by_action']}, {r['acted'] or 'no filter actions'} ({r['seconds']} s)"
        )
    if args.json:
        args.json.write_text(
            json.dumps(
                {
                    "symbol": args.symbol,
                    "start": str(args.start),
                    "end": str(args.end),
                    "bars": len(bars),
                    **runs,
                },
                indent=1,
            )
        )
    return 0


if __name__ == "__main__":
    sys.exit(main())
