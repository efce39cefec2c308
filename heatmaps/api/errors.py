"""API errors: DRF's own, plus 503 with Retry-After when the warehouse cannot be read."""

from rest_framework import status
from rest_framework.response import Response
from rest_framework.views import exception_handler

from heatmaps.warehouse import WarehouseUnavailable

RETRY_AFTER_SECONDS = 30


def handle(exc, context):
    if isinstance(exc, WarehouseUnavailable):
        return Response(
            {"detail": "The warehouse cannot be read right now; retry later."},
            status=status.HTTP_503_SERVICE_UNAVAILABLE,
            headers={"Retry-After": str(RETRY_AFTER_SECONDS)},
        )
    return exception_handler(exc, context)
