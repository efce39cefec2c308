"""Delivering a fired alert: a signed JSON POST to its webhook, an e-mail to its owner. Each
outcome is recorded as a Delivery; a failure is recorded, never raised, so that one broken
receiver cannot hold up the others."""

from __future__ import annotations

import hashlib
import hmac
import json
import time
import urllib.error
import urllib.request

from django.conf import settings
from django.core.mail import send_mail

from .models import AlertEvent, Delivery

SIGNATURE_HEADER = "X-Liqmap-Signature"
TIMESTAMP_HEADER = "X-Liqmap-Timestamp"


def sign(secret: str, body: bytes) -> str:
    """The signature header's value: HMAC-SHA256 of the raw body, hex."""
    return "sha256=" + hmac.new(secret.encode(), body, hashlib.sha256).hexdigest()


def body_of(event: AlertEvent) -> bytes:
    return json.dumps(event.payload, separators=(",", ":"), sort_keys=True).encode()


def deliver(event: AlertEvent) -> list[Delivery]:
    alert = event.alert
    deliveries = []
    if alert.webhook_url:
        deliveries.append(post_webhook(event))
    if alert.email:
        deliveries.append(send_email(event))
    return deliveries


def post_webhook(event: AlertEvent) -> Delivery:
    """POST the event's payload, retried after each of ALERT_WEBHOOK_RETRY_DELAYS on a network
    error, a 5xx or a 429 (a receiver that refuses the body, 4xx, is not asked again)."""
    url, body = event.alert.webhook_url, body_of(event)
    delays = list(settings.ALERT_WEBHOOK_RETRY_DELAYS)
    status, error = None, ""
    for attempt in range(len(delays) + 1):
        request = urllib.request.Request(
            url,
            data=body,
            method="POST",
            headers={
                "Content-Type": "application/json",
                "User-Agent": "liqmap-alerts",
                SIGNATURE_HEADER: sign(event.alert.secret, body),
                TIMESTAMP_HEADER: str(int(time.time())),
            },
        )
        try:
            with urllib.request.urlopen(request, timeout=settings.ALERT_WEBHOOK_TIMEOUT) as answer:
                status, error = answer.status, ""
                break
        except urllib.error.HTTPError as exc:
            status, error = exc.code, f"HTTP {exc.code} {exc.reason}"
            if exc.code < 500 and exc.code != 429:
                break
        except (urllib.error.URLError, OSError) as exc:
            status, error = None, str(getattr(exc, "reason", exc))
        if attempt < len(delays):
            time.sleep(delays[attempt])
    return Delivery.objects.create(
        event=event,
        channel=Delivery.Channel.WEBHOOK,
        target=url[:300],
        ok=not error,
        status_code=status,
        error=error,
        attempts=attempt + 1,
    )


def send_email(event: AlertEvent) -> Delivery:
    address, error = event.alert.owner.email, ""
    if not address:  # the address was removed after the alert was saved
        error = "the owner has no e-mail address"
    else:
        try:
            send_mail(
                subject=f"[liqmap] {event.message}",
                message=f"{event.message}\n\n{json.dumps(event.payload, indent=2)}\n",
                from_email=None,  # DEFAULT_FROM_EMAIL
                recipient_list=[address],
            )
        except Exception as exc:  # any backend's failure (SMTP refused, a full disk)
            error = f"{type(exc).__name__}: {exc}"
    return Delivery.objects.create(
        event=event, channel=Delivery.Channel.EMAIL, target=address, ok=not error, error=error
    )
