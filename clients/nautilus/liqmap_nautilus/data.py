"""The signal as Nautilus custom data, so any actor or strategy can subscribe to it."""

# no `from __future__ import annotations`: customdataclass reads the real types

from nautilus_trader.core.data import Data
from nautilus_trader.model.custom import customdataclass
from nautilus_trader.model.data import DataType


@customdataclass
class LiqmapSignal(Data):
    """One answer of liqmap's signals endpoint (or the client's WAIT when there was none).

    ``source`` is "server" for an answer, "client" for the WAIT published on a failure;
    ``requested_at`` is the time asked for (ISO 8601 UTC), ``as_of`` the data's time in the
    answer. Prices in USDT, ``distance_pct`` in percent; NaN where the server sent null.
    """

    symbol: str = ""
    action: str = "WAIT"
    reason: str = ""
    confidence: float = 0.0
    cluster_price: float = float("nan")
    distance_pct: float = float("nan")
    current_price: float = float("nan")
    as_of: str = ""
    requested_at: str = ""
    source: str = "client"


def signal_data_type(symbol: str) -> DataType:
    """The message-bus topic of one symbol's signals (publisher and subscribers share it)."""
    return DataType(LiqmapSignal, metadata={"symbol": symbol})
