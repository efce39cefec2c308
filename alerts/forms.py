from django import forms

from heatmaps.views import symbols

from .models import Alert


class AlertForm(forms.ModelForm):
    symbol = forms.ChoiceField()
    webhook_url = forms.URLField(
        required=False,
        assume_scheme="https",
        label="Webhook URL",
        help_text=Alert._meta.get_field("webhook_url").help_text,
    )

    class Meta:
        model = Alert
        fields = [
            "symbol",
            "kind",
            "distance_pct",
            "min_notional",
            "stale_minutes",
            "webhook_url",
            "email",
            "active",
        ]
        labels = {
            "distance_pct": "Within (%)",
            "min_notional": "Cluster of at least (USDT)",
            "stale_minutes": "Stale after (minutes)",
            "email": "E-mail me",
        }

    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        known = symbols()
        if self.instance.symbol and self.instance.symbol not in known:
            known = [self.instance.symbol, *known]  # an alert on a symbol no longer served
        self.fields["symbol"].choices = [(s, s) for s in known]
