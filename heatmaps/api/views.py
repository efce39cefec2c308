"""API views: parse the query, call payloads, answer. The heatmap is cached per snapshot."""

from __future__ import annotations

import hashlib
import json
from collections import OrderedDict

from django.core.cache import cache
from django.http import HttpResponse
from drf_spectacular.utils import OpenApiParameter, OpenApiResponse, extend_schema
from rest_framework.exceptions import ValidationError
from rest_framework.generics import ListAPIView, RetrieveAPIView
from rest_framework.response import Response
from rest_framework.views import APIView

from heatmaps import warehouse
from heatmaps.models import BacktestRun

from . import params, payloads, serializers

CACHE_SECONDS = 24 * 3600
ERRORS = {
    400: OpenApiResponse(description="a parameter is invalid: {parameter: [message]}"),
    401: OpenApiResponse(description="no or wrong credentials"),
    429: OpenApiResponse(description="throttled: retry after the Retry-After header"),
    503: OpenApiResponse(description="the warehouse cannot be read: retry after Retry-After"),
}

# every endpoint is throttled per user, and may find the warehouse unreadable: both say when
RETRY_AFTER = OpenApiParameter(
    "Retry-After",
    int,
    OpenApiParameter.HEADER,
    response=[429, 503],
    description="seconds to wait before retrying",
)


def responses(serializer) -> dict:
    return {200: serializer, **ERRORS}


def _parse(serializer_class, request) -> dict:
    parser = serializer_class(data=request.query_params)
    parser.is_valid(raise_exception=True)
    return parser.validated_data


def _call(function, **kwargs):
    try:
        return function(**kwargs)
    except payloads.BadParameter as exc:
        raise ValidationError({exc.parameter: [str(exc)]}) from None


class _RecentBodies:
    """The last few heatmap bodies this process served, in front of the shared cache: a hit
    there still costs a file read and a decompression, twice the rest of the request."""

    def __init__(self, size: int = 32):
        self.size, self.bodies = size, OrderedDict()

    def get(self, key: str) -> bytes | None:
        body = self.bodies.get(key)
        if body is not None:
            self.bodies.move_to_end(key)
        return body

    def put(self, key: str, body: bytes) -> None:
        self.bodies[key] = body
        while len(self.bodies) > self.size:
            self.bodies.popitem(last=False)


_recent = _RecentBodies()


class HeatmapView(APIView):
    @extend_schema(
        parameters=[params.HeatmapParams, RETRY_AFTER],
        responses=responses(serializers.HeatmapSerializer),
        summary="Pending liquidations, time × price, with candles",
    )
    def get(self, request):
        query = _parse(params.HeatmapParams, request)
        # new data publishes a new snapshot, so a key with its id never serves stale data
        key = (
            "heatmap:"
            + hashlib.sha256(
                f"{warehouse.snapshot_id()}|{sorted(query.items())}".encode()
            ).hexdigest()
        )
        body = _recent.get(key) or cache.get(key)
        if body is None:
            body = json.dumps(
                _call(payloads.heatmap, **query), separators=(",", ":"), allow_nan=False
            ).encode()
            cache.set(key, body, CACHE_SECONDS)
        _recent.put(key, body)
        return HttpResponse(body, content_type="application/json")


class LevelsView(APIView):
    @extend_schema(
        parameters=[params.LevelsParams, RETRY_AFTER],
        responses=responses(serializers.LevelsSerializer),
        summary="Liquidation levels by leverage tier, now or as of at=",
    )
    def get(self, request):
        return Response(_call(payloads.levels, **_parse(params.LevelsParams, request)))


class HistoryView(APIView):
    @extend_schema(
        parameters=[params.HistoryParams, RETRY_AFTER],
        responses=responses(serializers.HistorySerializer),
        summary="Realized liquidations",
    )
    def get(self, request):
        return Response(_call(payloads.history, **_parse(params.HistoryParams, request)))


class CompareModelsView(APIView):
    @extend_schema(
        parameters=[params.SymbolParams, RETRY_AFTER],
        responses=responses(serializers.CompareSerializer),
        summary="Every model's levels side by side",
    )
    def get(self, request):
        return Response(_call(payloads.compare_models, **_parse(params.SymbolParams, request)))


class SignalsView(APIView):
    @extend_schema(
        parameters=[params.SignalParams, RETRY_AFTER],
        responses=responses(serializers.SignalSerializer),
        summary="What a bot should do, now or at=: AVOID, REVERSAL_OPPORTUNITY, WAIT or CLEAR",
    )
    def get(self, request):
        return Response(_call(payloads.signal, **_parse(params.SignalParams, request)))


class HealthView(APIView):
    @extend_schema(
        parameters=[RETRY_AFTER],
        responses=responses(serializers.HealthSerializer),
        summary="Authenticated ping",
    )
    def get(self, request):
        return Response({"status": "ok", "user": request.user.get_username()})


class BacktestListView(ListAPIView):
    """Backtest runs, newest first (figures included)."""

    queryset = BacktestRun.objects.all()
    serializer_class = serializers.BacktestRunSerializer

    @extend_schema(
        parameters=[RETRY_AFTER],
        responses={200: serializers.BacktestRunSerializer(many=True), **ERRORS},
    )
    def get(self, request, *args, **kwargs):
        return super().get(request, *args, **kwargs)


class BacktestDetailView(RetrieveAPIView):
    queryset = BacktestRun.objects.all()
    serializer_class = serializers.BacktestRunSerializer

    @extend_schema(
        parameters=[RETRY_AFTER],
        responses={
            **responses(serializers.BacktestRunSerializer),
            404: OpenApiResponse(description="no such run"),
        },
    )
    def get(self, request, *args, **kwargs):
        return super().get(request, *args, **kwargs)
