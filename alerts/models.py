"""A user's alerts and what they fired. An alert fires once per crossing: when its condition
becomes true while it is armed; it stays fired until the condition is false again."""

from __future__ import annotations

import secrets
from datetime import datetime

from django.conf import settings
from django.core.exceptions import ValidationError
from django.core.validators import MinValueValidator, URLValidator
from django.db import models
from django.utils import timezone


def new_secret() -> str:
    return secrets.token_hex(32)


class Alert(models.Model):
    class Kind(models.TextChoices):
        CLUSTER_NEAR = "cluster_near", "price near a liquidation cluster"
        CASCADE = "cascade", "liquidation cascade (REVERSAL_OPPORTUNITY)"
        STALE_FEED = "stale_feed", "feed gone stale"

    class State(models.TextChoices):
        ARMED = "armed", "armed: fires when its condition becomes true"
        FIRED = "fired", "fired: re-arms when its condition is false again"

    owner = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="alerts"
    )
    symbol = models.CharField(max_length=20, default="BTCUSDT")
    kind = models.CharField(max_length=16, choices=Kind.choices, default=Kind.CLUSTER_NEAR)
    distance_pct = models.FloatField(
        null=True,
        blank=True,
        validators=[MinValueValidator(0.0)],
        help_text="cluster_near: fire when the price is within this % of a cluster",
    )
    min_notional = models.FloatField(
        default=0.0,
        validators=[MinValueValidator(0.0)],
        help_text="cluster_near: USDT pending in the cluster, at least",
    )
    stale_minutes = models.PositiveIntegerField(
        default=10,
        validators=[MinValueValidator(1)],
        help_text="stale_feed: fire when the newest candle is older than this",
    )
    webhook_url = models.URLField(
        blank=True,
        validators=[URLValidator(schemes=["http", "https"])],
        help_text="a signed JSON POST goes here",
    )
    email = models.BooleanField(default=False, help_text="e-mail the owner's address")
    secret = models.CharField(
        max_length=64, default=new_secret, editable=False, help_text="signs the webhook's body"
    )
    active = models.BooleanField(default=True)
    state = models.CharField(max_length=8, choices=State.choices, default=State.ARMED)
    state_changed_at = models.DateTimeField(default=timezone.now)
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        ordering = ["symbol", "kind", "pk"]

    def __str__(self) -> str:
        return f"{self.symbol}: {self.condition()}"

    def condition(self) -> str:
        if self.kind == self.Kind.CLUSTER_NEAR:
            floor = f" of at least ${self.min_notional:,.0f}" if self.min_notional else ""
            return f"price within {self.distance_pct:g} % of a cluster{floor}"
        if self.kind == self.Kind.STALE_FEED:
            return f"no new candle for {self.stale_minutes} min"
        return "a liquidation cascade (REVERSAL_OPPORTUNITY)"

    def clean(self) -> None:
        if self.kind == self.Kind.CLUSTER_NEAR and self.distance_pct is None:
            raise ValidationError({"distance_pct": "A cluster alert needs a distance in %."})
        if not self.webhook_url and not self.email:
            raise ValidationError("Choose a delivery: a webhook URL, e-mail, or both.")
        if self.email and self.owner_id and not self.owner.email:
            raise ValidationError({"email": "Your account has no e-mail address."})

    def fire(self, now: datetime) -> bool:
        """Armed → fired; False when it was not armed (already fired, or another evaluation
        took it first): only the one that changes the row delivers."""
        return self._move(self.State.ARMED, self.State.FIRED, now)

    def rearm(self, now: datetime) -> bool:
        """Fired → armed, once the condition is false again."""
        return self._move(self.State.FIRED, self.State.ARMED, now)

    def _move(self, before: str, after: str, now: datetime) -> bool:
        moved = Alert.objects.filter(pk=self.pk, state=before).update(
            state=after, state_changed_at=now
        )
        if moved:
            self.state, self.state_changed_at = after, now
        return moved == 1


class AlertEvent(models.Model):
    """One firing: what was seen (the webhook's body) and how each delivery went."""

    alert = models.ForeignKey(Alert, on_delete=models.CASCADE, related_name="events")
    fired_at = models.DateTimeField()
    message = models.CharField(max_length=300)
    payload = models.JSONField()

    class Meta:
        ordering = ["-fired_at", "-pk"]

    def __str__(self) -> str:
        return f"{self.fired_at:%Y-%m-%d %H:%M} {self.message}"


class Delivery(models.Model):
    class Channel(models.TextChoices):
        WEBHOOK = "webhook", "webhook"
        EMAIL = "email", "e-mail"

    event = models.ForeignKey(AlertEvent, on_delete=models.CASCADE, related_name="deliveries")
    channel = models.CharField(max_length=8, choices=Channel.choices)
    target = models.CharField(max_length=300, help_text="the URL or the e-mail address")
    ok = models.BooleanField()
    status_code = models.PositiveSmallIntegerField(null=True, blank=True)
    error = models.TextField(blank=True)
    attempts = models.PositiveSmallIntegerField(default=1)
    finished_at = models.DateTimeField(default=timezone.now)

    class Meta:
        ordering = ["pk"]
        verbose_name_plural = "deliveries"

    def __str__(self) -> str:
        outcome = "ok" if self.ok else (self.error or f"HTTP {self.status_code}")
        return f"{self.get_channel_display()} to {self.target}: {outcome}"
