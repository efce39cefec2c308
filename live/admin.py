from django.contrib import admin

from .models import Feed


@admin.register(Feed)
class FeedAdmin(admin.ModelAdmin):
    list_display = (
        "symbol",
        "stream",
        "source",
        "status",
        "last_row_at",
        "heartbeat_at",
        "stale",
        "rows",
        "host",
        "pid",
    )
    list_filter = ("source", "status", "symbol")
    readonly_fields = [f.name for f in Feed._meta.fields]

    @admin.display(boolean=True, description="stale")
    def stale(self, feed: Feed) -> bool:
        return feed.is_stale()

    def has_add_permission(self, request) -> bool:
        return False
