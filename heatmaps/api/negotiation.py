"""Who gets the browsable API: a person logged in with the session (the pages' cookie) may read
the API as HTML; a bot with a token always gets JSON, whatever its Accept header says."""

from rest_framework.negotiation import DefaultContentNegotiation
from rest_framework.renderers import BrowsableAPIRenderer


class BrowsableForSessions(DefaultContentNegotiation):
    def select_renderer(self, request, renderers, format_suffix=None):
        # Django's session user, not DRF's: reading request.user here would authenticate early
        person = getattr(request._request, "user", None)
        by_session = (
            person is not None
            and person.is_authenticated
            and "HTTP_AUTHORIZATION" not in request.META
        )
        if not by_session:
            renderers = [r for r in renderers if not isinstance(r, BrowsableAPIRenderer)]
        return super().select_renderer(request, renderers, format_suffix)
