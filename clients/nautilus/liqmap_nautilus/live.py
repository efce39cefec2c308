"""The same actor and strategy live, next to Nautilus's Binance adapter (USDⓈ-M futures).

    BINANCE_API_KEY=... BINANCE_API_SECRET=... LIQMAP_URL=https://liqmap.example \\
    LIQMAP_TOKEN=... python -m liqmap_nautilus.live [--testnet] [--dry-run]

The actor polls liqmap every minute without ``at=`` (the latest answer) on a clock timer; the
strategy gets 1-minute bars from Binance and decides on the hour. ``--dry-run`` builds the
node and stops before connecting (what the tests can check without an exchange).
"""

from __future__ import annotations

import argparse
import os
from decimal import Decimal

from nautilus_trader.adapters.binance import (
    BINANCE,
    BinanceAccountType,
    BinanceDataClientConfig,
    BinanceExecClientConfig,
    BinanceLiveDataClientFactory,
    BinanceLiveExecClientFactory,
)
from nautilus_trader.config import InstrumentProviderConfig, LoggingConfig, TradingNodeConfig
from nautilus_trader.live.node import TradingNode
from nautilus_trader.model.data import BarType
from nautilus_trader.model.identifiers import InstrumentId, TraderId

from .actor import LiqmapSignalActor, LiqmapSignalActorConfig
from .strategy import LiqmapTrend, LiqmapTrendConfig


def build_node(args) -> TradingNode:
    instrument_id = InstrumentId.from_str(f"{args.symbol}-PERP.BINANCE")
    binance = {
        "api_key": os.environ.get("BINANCE_API_KEY"),
        "api_secret": os.environ.get("BINANCE_API_SECRET"),
        "account_type": BinanceAccountType.USDT_FUTURES,
        "testnet": args.testnet,
    }
    config = TradingNodeConfig(
        trader_id=TraderId("LIQMAP-LIVE-001"),
        logging=LoggingConfig(log_level="INFO"),
        data_clients={
            BINANCE: BinanceDataClientConfig(
                **binance,
                instrument_provider=InstrumentProviderConfig(load_ids=frozenset([instrument_id])),
            )
        },
        exec_clients={
            BINANCE: BinanceExecClientConfig(
                **binance,
                instrument_provider=InstrumentProviderConfig(load_ids=frozenset([instrument_id])),
            )
        },
    )
    node = TradingNode(config=config)
    node.trader.add_actor(
        LiqmapSignalActor(
            LiqmapSignalActorConfig(
                base_url=args.server, token=args.token, symbol=args.symbol, interval_secs=60
            )
        )
    )
    node.trader.add_strategy(
        LiqmapTrend(
            LiqmapTrendConfig(
                instrument_id=instrument_id,
                bar_type=BarType.from_str(f"{instrument_id}-1-MINUTE-LAST-EXTERNAL"),
                symbol=args.symbol,
                notional=Decimal(args.notional),
                max_signal_age_secs=180,  # three missed polls: treat as WAIT
            )
        )
    )
    node.add_data_client_factory(BINANCE, BinanceLiveDataClientFactory)
    node.add_exec_client_factory(BINANCE, BinanceLiveExecClientFactory)
    node.build()
    return node


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--symbol", default="BTCUSDT")
    parser.add_argument("--server", default=os.environ.get("LIQMAP_URL", "http://127.0.0.1:8000"))
    parser.add_argument("--token", default=os.environ.get("LIQMAP_TOKEN"))
    parser.add_argument("--notional", default="1000", help="USDT per position")
    parser.add_argument("--testnet", action="store_true")
    parser.add_argument("--dry-run", action="store_true", help="build the node, do not connect")
    args = parser.parse_args(argv)
    if not args.token:
        parser.error("--token (or LIQMAP_TOKEN) is required")
    node = build_node(args)
    try:
        if args.dry_run:
            print(
                f"built {node.trader_id}: {', '.join(map(str, node.trader.actor_ids()))}, "
                f"{', '.join(map(str, node.trader.strategy_ids()))}"
            )
        else:
            node.run()
    finally:
        node.dispose()


if __name__ == "__main__":
    main()
