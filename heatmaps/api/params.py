"""Query parameters of each endpoint: parsed and checked here, so that a bad one is a 400
that names it."""

from __future__ import annotations

from datetime import UTC, datetime

from rest_framework import serializers

from heatmaps import warehouse
from models_engine import registry
from models_engine.units import DAY_MS, HOUR_MS

TIMEFRAMES_MS = {
    "12h": 12 * HOUR_MS,
    "1d": DAY_MS,
    "3d": 3 * DAY_MS,
    "7d": 7 * DAY_MS,
    "14d": 14 * DAY_MS,
    "30d": 30 * DAY_MS,
    "90d": 90 * DAY_MS,
    "180d": 180 * DAY_MS,
    "1y": 365 * DAY_MS,
}
# the engine's tiers, as the integers a URL carries
LEVERAGE_TIERS = registry.TIERS


class Params(serializers.Serializer):
    """A parameter given empty (``symbol=``) is refused: it would otherwise fall back to its
    default without a word."""

    def to_internal_value(self, data):
        blank = {
            name: [f"must not be empty: leave {name} out to use {self._default(field)}"]
            for name, field in self.fields.items()
            if name in data and str(data.get(name)).strip() == ""
        }
        if blank:
            raise serializers.ValidationError(blank)
        return super().to_internal_value(data)

    @staticmethod
    def _default(field) -> str:
        default = field.default
        return "the default" if default is serializers.empty else f"the default ({default})"


class SymbolParams(Params):
    symbol = serializers.CharField(
        default="BTCUSDT",
        min_length=1,
        max_length=20,
        help_text="a symbol with calculated data, e.g. BTCUSDT (any other: 400)",
    )

    def validate_symbol(self, value: str) -> str:
        value = value.strip().upper()
        known = warehouse.served_symbols()
        if value not in known:
            listed = ", ".join(known) or "none yet: run ingest and calculate"
            raise serializers.ValidationError(f"unknown symbol {value!r} (known: {listed})")
        return value


class ModelParams(SymbolParams):
    model = serializers.ChoiceField(choices=registry.MODEL_NAMES, default="ensemble")


class AtParams(Params):
    """``at``: answer as the endpoint would have at that time (bots backtest with it)."""

    at = serializers.DateTimeField(
        required=False,
        help_text="ISO 8601 (without a zone: UTC): answer as it would have been given at that "
        "time, from the data and calibrations available then (the model's hourly snapshot "
        "at or before it, the last candle closed by it); between the model's first snapshot "
        "and the symbol's last candle close (else 400); default: the latest",
    )

    def validate(self, attrs):
        attrs = super().validate(attrs)
        at = attrs.get("at")
        if at is None or "symbol" not in attrs:
            return attrs
        symbol, model = attrs["symbol"], attrs.get("model", "ensemble")
        span, end = warehouse.snapshot_span(symbol, model), warehouse.data_end(symbol)
        if span is None or end is None:
            raise serializers.ValidationError(
                {"at": f"{model} has no snapshots of {symbol} to answer from: run calculate"}
            )
        at_ms = int(at.timestamp() * 1000)
        if not span[0] <= at_ms <= end:
            raise serializers.ValidationError(
                {
                    "at": f"at must be between {_iso(span[0])} and {_iso(end)} ({model}'s first "
                    f"snapshot of {symbol} and its last candle's close)"
                }
            )
        return attrs


def _iso(ms: int) -> str:
    return datetime.fromtimestamp(ms / 1000, UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


class RangeMixin:
    def validate(self, attrs):
        attrs = super().validate(attrs)
        start, end = attrs.get("start"), attrs.get("end")
        if start and end and start >= end:
            raise serializers.ValidationError({"start": "start must be before end"})
        return attrs


class HeatmapParams(RangeMixin, AtParams, ModelParams):
    timeframe = serializers.ChoiceField(choices=list(TIMEFRAMES_MS), default="1d")
    start = serializers.DateTimeField(
        required=False, help_text="ISO 8601, before end; overrides timeframe"
    )
    end = serializers.DateTimeField(
        required=False, help_text="ISO 8601, after start; default: latest data"
    )
    price_step = serializers.FloatField(
        required=False,
        min_value=0.01,
        max_value=1e9,
        help_text="USDT; a multiple of the model's stored bucket, at most 1000 of them "
        "(else 400); default: the finest that fits",
    )
    price_min = serializers.FloatField(required=False, min_value=0.0, max_value=1e9)
    price_max = serializers.FloatField(required=False, min_value=0.0, max_value=1e9)
    leverage = serializers.CharField(
        required=False, help_text="comma-separated tiers, e.g. 10,25 (default: all)"
    )
    since = serializers.DateTimeField(
        required=False,
        help_text="ISO 8601: only the columns after it, on the same grid (live updates)",
    )

    def validate_leverage(self, value: str) -> list[float]:
        try:
            tiers = sorted({int(part) for part in value.split(",") if part.strip()})
        except ValueError:
            raise serializers.ValidationError("tiers are whole numbers, e.g. 10,25") from None
        unknown = [t for t in tiers if t not in LEVERAGE_TIERS]
        if unknown or not tiers:
            raise serializers.ValidationError(
                f"unknown tier(s) {unknown}; known: {', '.join(map(str, LEVERAGE_TIERS))}"
            )
        return [float(t) for t in tiers]

    def validate(self, attrs):
        attrs = super().validate(attrs)
        at, end = attrs.get("at"), attrs.get("end")
        if at is not None and end is not None and end > at:
            raise serializers.ValidationError({"end": "end must not be after at"})
        low, high = attrs.get("price_min"), attrs.get("price_max")
        if low is not None and high is not None and low >= high:
            raise serializers.ValidationError({"price_min": "price_min must be below price_max"})
        return attrs


class LevelsParams(AtParams, ModelParams):
    leverage = serializers.ChoiceField(choices=LEVERAGE_TIERS, required=False)


class HistoryParams(RangeMixin, SymbolParams):
    start = serializers.DateTimeField(
        required=False, help_text="ISO 8601, before end; default: a day before end"
    )
    end = serializers.DateTimeField(
        required=False, help_text="ISO 8601, after start; default: the latest data"
    )
    limit = serializers.IntegerField(default=1000, min_value=1, max_value=10_000)


class SignalParams(AtParams, ModelParams):
    pass
