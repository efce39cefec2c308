"""The alerts page: a user's own alerts (create, edit, delete) and what they fired."""

from __future__ import annotations

from django.contrib import messages
from django.contrib.auth.decorators import login_required
from django.http import HttpRequest, HttpResponse
from django.shortcuts import get_object_or_404, redirect, render
from django.utils import timezone
from django.views.decorators.http import require_POST

from .forms import AlertForm
from .models import Alert, AlertEvent

HISTORY_LENGTH = 100


@login_required
def index(request: HttpRequest) -> HttpResponse:
    form = AlertForm(request.POST or None, instance=Alert(owner=request.user))
    if request.method == "POST" and form.is_valid():
        alert = form.save()
        messages.success(request, f"Alert created: {alert}")
        return redirect("alerts")
    return render(
        request,
        "alerts/index.html",
        {
            "form": form,
            "alerts": request.user.alerts.all(),
            "events": AlertEvent.objects.filter(alert__owner=request.user)
            .select_related("alert")
            .prefetch_related("deliveries")[:HISTORY_LENGTH],
        },
    )


@login_required
def edit(request: HttpRequest, pk: int) -> HttpResponse:
    alert = get_object_or_404(Alert, pk=pk, owner=request.user)
    form = AlertForm(request.POST or None, instance=alert)
    if request.method == "POST" and form.is_valid():
        alert = form.save(commit=False)
        # a changed condition is a new one: it fires the next time it holds
        alert.state, alert.state_changed_at = Alert.State.ARMED, timezone.now()
        alert.save()
        messages.success(request, f"Alert saved: {alert}")
        return redirect("alerts")
    return render(request, "alerts/edit.html", {"form": form, "alert": alert})


@login_required
@require_POST
def delete(request: HttpRequest, pk: int) -> HttpResponse:
    alert = get_object_or_404(Alert, pk=pk, owner=request.user)
    alert.delete()
    messages.success(request, f"Alert deleted: {alert}")
    return redirect("alerts")
