"""Response shapes, for the OpenAPI schema (bots generate clients from it)."""

from rest_framework import serializers

from heatmaps.models import BacktestRun

_band = serializers.ChoiceField(
    choices=["low", "medium", "high"],
    help_text="low: below 0.3, flagged invalid; medium: below 0.7; high: 0.7 and above",
)


class SideNowSerializer(serializers.Serializer):
    total_volume = serializers.FloatField(help_text="pending USDT in the last column")
    highest_density_price = serializers.FloatField(
        allow_null=True, help_text="densest bucket of the last column in the view's price range"
    )


class BySideSerializer(serializers.Serializer):
    long = SideNowSerializer()
    short = SideNowSerializer()


class MetadataSerializer(serializers.Serializer):
    total_volume = serializers.FloatField(help_text="pending USDT in the last column")
    highest_density_price = serializers.FloatField(
        allow_null=True, help_text="densest bucket of the last column in the view's price range"
    )
    by_side = BySideSerializer(help_text="total_volume and highest_density_price per side")
    confidence = serializers.FloatField()
    confidence_band = _band
    is_valid = serializers.BooleanField()
    warnings = serializers.ListField(child=serializers.CharField())
    time_bucket_seconds = serializers.IntegerField()
    price_step = serializers.FloatField()
    stored_price_step = serializers.FloatField(
        help_text="USDT; the finest price_step this view can have (hourly columns are the "
        "finest time buckets)"
    )
    view_price_min = serializers.FloatField(
        allow_null=True, help_text="the price range to show first: the candles' range and a margin"
    )
    view_price_max = serializers.FloatField(allow_null=True)
    as_of = serializers.CharField(
        allow_null=True, help_text="the model's latest snapshot; with at=, the time asked for"
    )
    data_start = serializers.CharField(
        allow_null=True, help_text="first stored column in the window asked for"
    )
    data_end = serializers.CharField(allow_null=True)
    window_start = serializers.CharField(
        allow_null=True,
        help_text="the grid's first column (with since=, the columns before it "
        "have left the window)",
    )
    data_reaches = serializers.CharField(
        allow_null=True,
        help_text="when the symbol's newest candle closes (with at=: the last closed by then)",
    )
    published_at = serializers.CharField(
        allow_null=True, help_text="when the warehouse this answer was read from was published"
    )
    covers_window = serializers.BooleanField(
        help_text="false: the data holds less than the window asked for (see data_start/end)"
    )


class CandlesSerializer(serializers.Serializer):
    time = serializers.ListField(child=serializers.CharField())
    open = serializers.ListField(child=serializers.FloatField())
    high = serializers.ListField(child=serializers.FloatField())
    low = serializers.ListField(child=serializers.FloatField())
    close = serializers.ListField(child=serializers.FloatField())


_matrix = serializers.ListField(
    child=serializers.ListField(child=serializers.FloatField()),
    help_text="rows = prices, columns = times; pending liquidation notional in USDT",
)


class HeatmapSerializer(serializers.Serializer):
    symbol = serializers.CharField()
    model = serializers.CharField()
    timeframe = serializers.CharField()
    times = serializers.ListField(child=serializers.CharField())
    prices = serializers.ListField(child=serializers.FloatField())
    long = _matrix
    short = _matrix
    candles = CandlesSerializer()
    current_price = serializers.FloatField(allow_null=True)
    metadata = MetadataSerializer()


class LevelSerializer(serializers.Serializer):
    price = serializers.FloatField()
    volume = serializers.FloatField(help_text="USDT")
    side = serializers.ChoiceField(choices=["long", "short"])
    leverage = serializers.IntegerField()
    confidence = serializers.FloatField()


class PricedVolumeSerializer(serializers.Serializer):
    price = serializers.FloatField()
    volume = serializers.FloatField()


class CumulativeSerializer(serializers.Serializer):
    long = PricedVolumeSerializer(many=True)
    short = PricedVolumeSerializer(many=True)


class FreshnessSerializer(serializers.Serializer):
    data_end = serializers.CharField(
        allow_null=True,
        help_text="when the symbol's newest candle closes: how far data reaches (with at=: "
        "the last candle closed by then)",
    )
    as_of = serializers.CharField(
        allow_null=True, help_text="the model's latest snapshot; with at=, the time asked for"
    )
    point_in_time = serializers.BooleanField(
        help_text="true: the answer is as of at=, from what was known then"
    )
    snapshot = serializers.CharField(
        allow_null=True,
        help_text="the model snapshot the answer was read from: the latest run's end, or "
        "with at= the hourly snapshot at or before it",
    )
    published_at = serializers.CharField(
        allow_null=True, help_text="when the warehouse the answer was read from was published"
    )
    age_seconds = serializers.IntegerField(
        allow_null=True, help_text="seconds from data_end to this answer (with at=: to at)"
    )
    stale_after_seconds = serializers.IntegerField()
    stale = serializers.BooleanField(
        help_text="live data older than stale_after_seconds: the feed is behind or stopped"
    )
    live = serializers.BooleanField(help_text="false for the bundled sample (history)")
    lagging_feeds = serializers.ListField(
        child=serializers.CharField(), help_text="REST feeds (follow) behind by more than that"
    )
    recorder_down = serializers.BooleanField(
        help_text="the forceOrder recorder (record_liquidations) has stopped reporting"
    )
    stream_note = serializers.CharField(
        allow_null=True,
        help_text="set when realized liquidations come from the stream, which undercounts",
    )


class LevelsSerializer(serializers.Serializer):
    symbol = serializers.CharField()
    model = serializers.CharField()
    current_price = serializers.FloatField(allow_null=True)
    timestamp = serializers.CharField(allow_null=True)
    levels = LevelSerializer(many=True)
    cumulative = CumulativeSerializer()
    confidence = serializers.FloatField()
    warnings = serializers.ListField(child=serializers.CharField())
    freshness = FreshnessSerializer()


class MeanLevelSerializer(serializers.Serializer):
    long = serializers.FloatField(required=False)
    short = serializers.FloatField(required=False)


class ModelLevelsSerializer(serializers.Serializer):
    name = serializers.CharField()
    avg_confidence = serializers.FloatField()
    confidence_band = _band
    levels = LevelSerializer(many=True)
    mean_level = MeanLevelSerializer()


class ZoneSerializer(serializers.Serializer):
    side = serializers.ChoiceField(choices=["long", "short"])
    low = serializers.FloatField()
    high = serializers.FloatField()
    gap_pct = serializers.FloatField()


class EnsembleWeightsSerializer(serializers.Serializer):
    mode = serializers.ChoiceField(choices=["fixed", "learned"])
    learning_days = serializers.IntegerField(
        allow_null=True, help_text="learned mode: trailing days each member is scored on"
    )
    configured = serializers.DictField(
        child=serializers.FloatField(), help_text="the active WeightConfig (learned: fallback)"
    )
    in_force = serializers.DictField(
        child=serializers.FloatField(),
        allow_null=True,
        help_text="the ensemble's member weights at its last calculation",
    )


class CompareSerializer(serializers.Serializer):
    symbol = serializers.CharField()
    current_price = serializers.FloatField(allow_null=True)
    models = ModelLevelsSerializer(many=True)
    zones = ZoneSerializer(
        many=True, help_text="sides where the mean levels differ by over disagreement_limit_pct"
    )
    disagreement_limit_pct = serializers.FloatField(help_text="% of the price")
    weights = EnsembleWeightsSerializer()


class EventSerializer(serializers.Serializer):
    time = serializers.CharField()
    price = serializers.FloatField()
    quantity = serializers.FloatField()
    side = serializers.ChoiceField(choices=["long", "short"])
    volume = serializers.FloatField()


class HistorySerializer(serializers.Serializer):
    symbol = serializers.CharField()
    start = serializers.CharField(allow_null=True)
    end = serializers.CharField(allow_null=True)
    count = serializers.IntegerField()
    truncated = serializers.BooleanField(help_text="true: only the latest `limit` events")
    events = EventSerializer(many=True)


class SignalSerializer(serializers.Serializer):
    action = serializers.ChoiceField(choices=["AVOID", "REVERSAL_OPPORTUNITY", "WAIT", "CLEAR"])
    reason = serializers.CharField()
    confidence = serializers.FloatField()
    cluster_price = serializers.FloatField(allow_null=True)
    distance_pct = serializers.FloatField(allow_null=True)
    cluster_notional = serializers.FloatField(
        allow_null=True, help_text="USDT pending in the cluster's price bucket"
    )
    cluster_ahead = serializers.BooleanField(
        help_text="the nearest cluster is within cluster_within_pct of the price"
    )
    cluster_within_pct = serializers.FloatField()
    realized_last_hour = serializers.FloatField(help_text="USDT liquidated in the last hour")
    predicted_last_hour = serializers.FloatField(
        help_text="USDT the model expected to be liquidated in the last hour"
    )
    symbol = serializers.CharField()
    model = serializers.CharField()
    current_price = serializers.FloatField(allow_null=True)
    as_of = serializers.CharField(allow_null=True)
    freshness = FreshnessSerializer()


class HealthSerializer(serializers.Serializer):
    status = serializers.CharField()
    user = serializers.CharField()


class BacktestFigureSerializer(serializers.Serializer):
    model = serializers.CharField()
    horizon = serializers.CharField()
    side = serializers.ChoiceField(choices=["both", "long", "short"])
    precision_at_10 = serializers.FloatField(allow_null=True)
    lift = serializers.FloatField(allow_null=True)
    p10_low = serializers.FloatField(
        allow_null=True, help_text="95 % bootstrap interval of precision_at_10 (low end)"
    )
    p10_high = serializers.FloatField(allow_null=True)
    recall_1pct = serializers.FloatField(allow_null=True)
    spearman = serializers.FloatField(allow_null=True)
    realized_notional = serializers.FloatField(allow_null=True)
    evaluations = serializers.IntegerField(
        help_text="evaluation windows scored (those with at least 10 liquidations)"
    )
    events = serializers.IntegerField()


class BacktestRunSerializer(serializers.ModelSerializer):
    results = BacktestFigureSerializer(many=True, read_only=True)

    class Meta:
        model = BacktestRun
        fields = [
            "id",
            "symbol",
            "start",
            "end",
            "model_names",
            "horizons",
            "status",
            "created_at",
            "finished_at",
            "error",
            "notes",
            "results",
        ]
