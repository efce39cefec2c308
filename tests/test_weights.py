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


def test_learned_weights_need_a_sane_number_of_days():
    with pytest.raises(ValidationError, match="between 1 and 90"):
        WeightConfig.objects.create(name="too long", mode="learned", learning_days=365)


def test_learned_weights_come_from_the_members_trailing_precision_and_are_shown(
    warehouse_path, settings, tmp_path, clients
):
    from datetime import date

    from heatmaps import tasks, warehouse

    from .conftest import SAMPLE

    settings.SERVING_PATH = tmp_path / "serving"
    tasks.ingest("BTCUSDT", date(2024, 1, 1), date(2024, 1, 10), source=SAMPLE)
    tasks.calibrate("BTCUSDT")
    WeightConfig.objects.create(name="learned", mode="learned", learning_days=3, is_active=True)
    tasks.calculate("BTCUSDT", start=date(2024, 1, 10))

    run = warehouse.latest_run("BTCUSDT", "ensemble")
    assert set(run["weights"]) == set(WeightConfig.MODELS)
    assert sum(run["weights"].values()) == pytest.approx(1, abs=1e-3)
    assert run["weights"] != WeightConfig.active().weights  # learned, not the fallback
    body = clients["bot"].get("/api/v1/liquidations/compare-models").json()
    assert body["weights"]["mode"] == "learned" and body["weights"]["learning_days"] == 3
    assert body["weights"]["in_force"] == run["weights"]
    page = clients["trader"].get("/compare/")
    assert page.status_code == 200
