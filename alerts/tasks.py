"""The alerts job: evaluate every active alert against the published snapshot, fire those
whose condition became true, re-arm those whose condition is false again, deliver."""

from __future__ import annotations

from datetime import datetime

import structlog
from django.utils import timezone

from heatmaps.api.payloads import iso

from . import conditions, delivery
from .models import Alert, AlertEvent

log = structlog.get_logger("liqmap.alerts")


def evaluate(now: datetime | None = None) -> dict:
    """One pass over the active alerts (the minute's schedule, and after each calculate).

    Every condition is read before anything is delivered, so a slow or broken receiver
    delays no other alert's state. An unreadable warehouse fails the job and changes no
    alert: its condition is unknown, not false.
    """
    now = now or timezone.now()
    readings = conditions.Readings(now)
    alerts = list(Alert.objects.filter(active=True).select_related("owner"))
    fired: list[AlertEvent] = []
    rearmed = 0
    for alert in alerts:
        holds, message, facts = conditions.observe(alert, readings)
        if holds and alert.fire(now):
            payload = {
                "event": None,
                "alert": alert.pk,
                "kind": alert.kind,
                "symbol": alert.symbol,
                "condition": alert.condition(),
                "message": message,
                "fired_at": iso(readings.now_ms),
                **facts,
            }
            event = AlertEvent.objects.create(
                alert=alert, fired_at=now, message=message[:300], payload=payload
            )
            event.payload["event"] = event.pk  # a receiver's key for a retried POST
            event.save(update_fields=["payload"])
            fired.append(event)
        elif not holds and alert.rearm(now):
            rearmed += 1
    failed = 0
    for event in fired:
        failed += sum(not d.ok for d in delivery.deliver(event))
    summary = {"alerts": len(alerts), "fired": len(fired), "rearmed": rearmed, "failed": failed}
    log.info("alerts_evaluated", **summary)
    return summary
