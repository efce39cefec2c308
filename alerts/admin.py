from django.contrib import admin
from django.db import models

from .models import Alert, AlertEvent, Delivery


@admin.register(Alert)
class AlertAdmin(admin.ModelAdmin):
    # a webhook typed without a scheme is https (the page's form says the same)
    formfield_overrides = {models.URLField: {"assume_scheme": "https"}}
    list_display = ("__str__", "owner", "kind", "state", "state_changed_at", "active")
    list_filter = ("kind", "state", "active", "symbol")
    search_fields = ("owner__username", "symbol", "webhook_url")
    readonly_fields = ("state", "state_changed_at", "created_at", "secret")


class DeliveryInline(admin.TabularInline):
    model = Delivery
    extra = 0
    can_delete = False
    readonly_fields = [f.name for f in Delivery._meta.fields]

    def has_add_permission(self, request, obj=None) -> bool:
        return False


@admin.register(AlertEvent)
class AlertEventAdmin(admin.ModelAdmin):
    """What fired, as it was delivered: a record, not something to edit."""

    list_display = ("fired_at", "alert", "message", "delivered")
    list_filter = ("alert__kind", "alert__symbol")
    date_hierarchy = "fired_at"
    inlines = [DeliveryInline]

    @admin.display(description="deliveries")
    def delivered(self, event: AlertEvent) -> str:
        return ", ".join(
            f"{d.get_channel_display()} {'ok' if d.ok else 'failed'}"
            for d in event.deliveries.all()
        )

    def get_queryset(self, request):
        return super().get_queryset(request).prefetch_related("deliveries")

    def has_add_permission(self, request) -> bool:
        return False

    def has_change_permission(self, request, obj=None) -> bool:
        return False
