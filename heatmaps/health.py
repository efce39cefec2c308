"""``/healthz``: is this install doing its job? For a load balancer or a monitor, so it needs no
login and says nothing a stranger could use: ages, counts and feed names, never an error text,
a host, a path or a user. (``/api/v1/health`` is the other one: a bot checking its token.)"""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import structlog
from django.conf import settings
from django.db import DatabaseError
from django.http import JsonResponse
from django.utils import timezone
from django.views.decorators.cache import never_cache
from django.views.decorators.http import require_GET
from django_q.models import Failure, OrmQ

from heatmaps import warehouse
from heatmaps.feeds import Feed

RECENT = timedelta(hours=1)
logger = structlog.get_logger(__name__)


def database() -> dict:
    try:
        Feed.objects.exists()  # a real query: a connection that opens may still not answer
    except DatabaseError:
        logger.exception("healthz_database_failed")
        return {"ok": False}
    return {"ok": True}


def snapshot() -> dict:
    """How old the snapshot the web serves is: the jobs publish one after each run."""
    published = warehouse.published_at()
    if published is None:
        return {"ok": False, "published_at": None, "age_seconds": None}
    age = timezone.now().timestamp() - published / 1000
    return {
        "ok": age <= settings.HEALTHZ_SNAPSHOT_MAX_AGE,
        "published_at": datetime.fromtimestamp(published / 1000, UTC),
        "age_seconds": round(age),
    }


def queue() -> dict:
    """django-q2's ORM broker: tasks waiting (and since when), tasks failed in the last hour.
    A task a worker holds has its row locked into the future: it runs, it does not wait."""
    now = timezone.now()
    rows = OrmQ.objects.filter(key=settings.Q_CLUSTER["name"], lock__lte=now)
    waiting = [q.task.get("started") for q in rows]
    started = [t for t in waiting if t is not None]
    oldest = round((now - min(started)).total_seconds()) if started else None
    return {
        "ok": oldest is None or oldest <= settings.HEALTHZ_QUEUE_MAX_AGE,
        "queued": len(waiting),
        "oldest_age_seconds": oldest,
        "failed_last_hour": Failure.objects.filter(stopped__gte=now - RECENT).count(),
    }


def feeds() -> dict:
    """The live feeds that lag (none when the install does not follow the market)."""
    now = timezone.now()
    stale = [f"{f.symbol} {f.stream}" for f in Feed.objects.all() if f.is_stale(now)]
    return {"ok": not stale, "count": Feed.objects.count(), "stale": sorted(stale)}


@never_cache
@require_GET
def healthz(request):
    checks = {}
    for name, check in (("database", database), ("warehouse", snapshot)):
        checks[name] = check()
    # the queue and the feeds live in the database: without it they cannot be asked
    for name, check in (("queue", queue), ("feeds", feeds)):
        checks[name] = check() if checks["database"]["ok"] else {"ok": False}
    ok = all(c["ok"] for c in checks.values())
    return JsonResponse({"status": "ok" if ok else "failing", **checks}, status=200 if ok else 503)
