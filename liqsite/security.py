"""Who is asking: the client address that login throttling counts failures against."""

from django.conf import settings
from django.http import HttpRequest


def client_ip(request: HttpRequest) -> str:
    """The proxy's header naming the client when ``CLIENT_IP_HEADER`` says there is one (behind
    a proxy REMOTE_ADDR is the proxy, and one lockout would shut everybody out), else the
    socket's peer."""
    if settings.CLIENT_IP_HEADER:
        key = "HTTP_" + settings.CLIENT_IP_HEADER.upper().replace("-", "_")
        # X-Forwarded-For lists every hop: the last one is what our own proxy saw
        forwarded = request.META.get(key, "").split(",")[-1].strip()
        if forwarded:
            return forwarded
    return request.META.get("REMOTE_ADDR", "")
