"""API errors: DRF's own, plus 503 with Retry-After when the warehouse or the database cannot
be read (a restart, a failover: a bot should wait and ask again, not see a server error)."""

import structlog
from django.db import InterfaceError, OperationalError
from rest_framework import status
from rest_framework.response import Response
from rest_framework.views import exception_handler

from heatmaps.warehouse import WarehouseUnavailable

RETRY_AFTER_SECONDS = 30
_log = structlog.get_logger("liqmap.api")


def handle(exc, context):
    if isinstance(exc, WarehouseUnavailable):
        return _unavailable("The warehouse cannot be read right now; retry later.")
    if isinstance(exc, OperationalError | InterfaceError):
        _log.error("database_unavailable", error=str(exc).splitlines()[0] if str(exc) else "")
        return _unavailable("The database cannot be reached right now; retry later.")
    return exception_handler(exc, context)


def _unavailable(detail: str) -> Response:
    return Response(
        {"detail": detail},
        status=status.HTTP_503_SERVICE_UNAVAILABLE,
        headers={"Retry-After": str(RETRY_AFTER_SECONDS)},
    )
