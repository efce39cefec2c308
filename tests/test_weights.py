"""WeightConfig: the ensemble weights the admin edits."""

import pytest
from django.core.exceptions import ValidationError

from heatmaps.models import WeightConfig

pytestmark = pytest.mark.django_db


def test_the_first_weights_come_from_the_model_weights_setting(settings):
    settings.MODEL_WEIGHTS = {"binance_standard": 0.6, "funding_adjusted": 0.4}
    active = WeightConfig.active()
    assert active.weights == {
        "binance_standard": 0.6,
        "funding_adjusted": 0.4,
        "trade_clusters": 0.0,
    }
    assert WeightConfig.active().pk == active.pk


def test_weights_that_do_not_sum_to_one_are_refused():
    with pytest.raises(ValidationError, match="sum to 1"):
        WeightConfig.objects.create(
            name="bad", binance_standard=0.5, funding_adjusted=0.5, trade_clusters=0.5
        )
    with pytest.raises(ValidationError, match="between 0 and 1"):
        WeightConfig.objects.create(
            name="negative", binance_standard=1.5, funding_adjusted=-0.5, trade_clusters=0.0
        )


def test_activating_one_config_retires_the_other():
    first = WeightConfig.objects.create(name="first", is_active=True)
    second = WeightConfig.objects.create(
        name="second",
        binance_standard=0.2,
        funding_adjusted=0.3,
        trade_clusters=0.5,
        is_active=True,
    )
    first.refresh_from_db()
    assert not first.is_active and WeightConfig.active() == second
    assert WeightConfig.objects.filter(is_active=True).count() == 1
