"""LiqmapTrend in a BacktestEngine on hand-made hourly bars, with the signals scripted by a
small actor (the HTTP actor is tested against servers elsewhere): what each action does."""

from decimal import Decimal

import pandas as pd
from nautilus_trader.backtest.engine import BacktestEngine, BacktestEngineConfig
from nautilus_trader.common.actor import Actor
from nautilus_trader.config import LoggingConfig
from nautilus_trader.model.currencies import USDT
from nautilus_trader.model.data import BarType
from nautilus_trader.model.enums import AccountType, OmsType
from nautilus_trader.model.objects import Money
from nautilus_trader.persistence.wranglers import BarDataWrangler

from liqmap_nautilus.backtest import perpetual
from liqmap_nautilus.data import LiqmapSignal, signal_data_type
from liqmap_nautilus.strategy import LiqmapTrend, LiqmapTrendConfig

START = pd.Timestamp("2024-01-01", tz="UTC")
HOURS = 40
# the 24-hour mean needs 24 closes: the first decision is at hour 23
SCRIPT = {26: "AVOID", 27: "WAIT", 29: "REVERSAL_OPPORTUNITY", 31: "AVOID"}
SILENT_FROM = 33  # liqmap goes quiet: no signal at all from this hour on


class Scripted(Actor):
    """Publishes SCRIPT's action at each hour (CLEAR otherwise) before the strategy's bar."""

    def __init__(self, bar_type):
        super().__init__()
        self.bar_type = bar_type

    def on_start(self):
        self.subscribe_bars(self.bar_type)

    def on_bar(self, bar):
        hour = int((bar.ts_event - START.value) // 3_600_000_000_000)
        if hour >= SILENT_FROM:
            return
        action = SCRIPT.get(hour, "CLEAR")
        signal = LiqmapSignal(bar.ts_event, bar.ts_event, symbol="BTCUSDT", action=action)
        self.publish_data(signal_data_type("BTCUSDT"), signal)

    def on_stop(self):
        pass


def run(**config) -> LiqmapTrend:
    instrument = perpetual("BTCUSDT")
    engine = BacktestEngine(BacktestEngineConfig(logging=LoggingConfig(log_level="ERROR")))
    engine.add_venue(
        venue=instrument.id.venue,
        oms_type=OmsType.NETTING,
        account_type=AccountType.MARGIN,
        base_currency=USDT,
        starting_balances=[Money(100_000, USDT)],
        default_leverage=Decimal(10),
    )
    engine.add_instrument(instrument)
    bar_type = BarType.from_str(f"{instrument.id}-1-MINUTE-LAST-EXTERNAL")
    # a steady climb: the trend is long from the first decision on
    times = [START + pd.Timedelta(hours=h) for h in range(HOURS)]
    closes = [40_000 + 100 * h for h in range(HOURS)]
    bars = pd.DataFrame(
        {"open": closes, "high": closes, "low": closes, "close": closes, "volume": 1.0},
        index=pd.DatetimeIndex(times, name="timestamp"),
    )
    engine.add_data(BarDataWrangler(bar_type, instrument).process(bars))
    engine.add_actor(Scripted(bar_type))
    strategy = LiqmapTrend(
        LiqmapTrendConfig(instrument_id=instrument.id, bar_type=bar_type, **config)
    )
    engine.add_strategy(strategy)
    engine.run()
    engine.dispose()
    return strategy


def targets(strategy) -> dict[int, tuple[str, int]]:
    return {
        int((t - START.value) // 3_600_000_000_000): (action, target)
        for t, _, action, _, target in strategy.decisions
    }


def test_avoid_and_wait_keep_it_out_and_clear_lets_it_back_in():
    strategy = run()
    got = targets(strategy)
    assert got[25] == ("CLEAR", 1)
    assert got[26] == ("AVOID", 0)  # closed: paper_trade's rule
    assert got[27] == ("WAIT", 0)  # the entry skipped
    assert got[28] == ("CLEAR", 1)
    assert got[29] == ("REVERSAL_OPPORTUNITY", 1)  # not faded unless asked
    assert strategy.acted["closed on AVOID"] == 2
    # hour 27, then 36..39 once liqmap has been silent too long (hour 35 closed the position)
    assert strategy.acted["entry skipped on WAIT"] == 5
    assert strategy.acted["closed on WAIT"] == 1


def test_hold_keeps_an_open_position_but_enters_nothing_new():
    got = targets(run(on_block="hold"))
    assert got[26] == ("AVOID", 1) and got[27] == ("WAIT", 1)


def test_a_reversal_is_faded_against_the_last_hours_move():
    strategy = run(fade_reversals=True)
    got = targets(strategy)
    assert got[29] == ("REVERSAL_OPPORTUNITY", -1)  # the price rose: fade it short
    assert got[30] == ("CLEAR", 1)
    assert strategy.acted["reversal faded"] == 1


def test_without_the_filter_it_follows_the_trend_whatever_the_signal():
    got = targets(run(use_filter=False, fade_reversals=True))
    assert {target for _, target in got.values()} == {1}


def test_a_signal_older_than_the_limit_counts_as_wait():
    got = targets(run(max_signal_age_secs=7200))
    assert got[34] == ("CLEAR", 1)  # the last signal (hour 32) is two hours old: still good
    assert got[35] == ("WAIT", 0)  # three hours old: stale
