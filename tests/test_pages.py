"""The dashboard pages: behind the login, plotly served from this server (never a
CDN), the navigation, and the choices the API accepts."""

from __future__ import annotations

import pytest
from django.contrib.staticfiles import finders
from django.urls import reverse

from heatmaps import views
from heatmaps.api import params
from models_engine import registry

from .conftest import PASSWORD

pytestmark = pytest.mark.django_db

PAGES = {
    "heatmap": "js/heatmap.js",
    "map": "js/map.js",
    "compare": "js/compare.js",
    "backtests": "js/backtests.js",
}
PLOTLY = "/static/vendor/plotly.min.js"


@pytest.fixture(autouse=True)
def plain_static_urls(settings):
    # Production's manifest storage needs `collectstatic` first; here the finders serve the
    # files under their plain names, as in DEBUG.
    settings.STORAGES = {
        **settings.STORAGES,
        "staticfiles": {"BACKEND": "django.contrib.staticfiles.storage.StaticFilesStorage"},
    }
    settings.WHITENOISE_USE_FINDERS = True
    settings.WHITENOISE_AUTOREFRESH = True


@pytest.fixture
def trader_client(client, dashboard_user):
    client.force_login(dashboard_user)
    return client


@pytest.mark.parametrize("name", PAGES)
def test_an_outsider_is_sent_to_the_login_page(client, name):
    response = client.get(reverse(name))
    assert response.status_code == 302
    assert response.url == f"{reverse('login')}?next={reverse(name)}"


def test_the_root_redirects_to_the_heatmap(trader_client):
    response = trader_client.get("/")
    assert response.status_code == 302
    assert response.url == reverse("heatmap")


@pytest.mark.parametrize(("name", "script"), PAGES.items())
def test_each_page_renders_with_the_vendored_plotly_and_its_own_script(trader_client, name, script):
    response = trader_client.get(reverse(name))
    assert response.status_code == 200
    html = response.content.decode()
    assert f'<script src="{PLOTLY}"></script>' in html
    assert f'<script src="/static/{script}"></script>' in html
    assert "cdn" not in html.lower() and "https://" not in html


def test_plotly_and_the_page_assets_are_served_from_this_server(trader_client):
    assert finders.find("vendor/plotly.min.js") is not None
    for url in (
        PLOTLY,
        "/static/js/liqmap.js",
        "/static/css/liqmap.css",
        *(f"/static/{script}" for script in PAGES.values()),
    ):
        response = trader_client.get(url)
        assert response.status_code == 200, url
        assert b"".join(response.streaming_content if response.streaming else [response.content])


@pytest.mark.parametrize("name", PAGES)
def test_the_navigation_links_every_page_the_api_docs_and_a_post_logout(trader_client, name):
    html = trader_client.get(reverse(name)).content.decode()
    for target in ("heatmap", "map", "compare", "backtests", "swagger-ui"):
        assert f'href="{reverse(target)}"' in html
    assert f'<form method="post" action="{reverse("logout")}">' in html
    assert 'name="csrfmiddlewaretoken"' in html
    assert 'aria-current="page"' in html
    assert ">trader<" in html
    assert f'href="{reverse("admin:index")}"' not in html


def test_staff_also_get_the_admin_link(client, staff):
    client.force_login(staff)
    html = client.get(reverse("heatmap")).content.decode()
    assert f'href="{reverse("admin:index")}"' in html


def test_the_backtests_page_says_how_to_make_a_run_and_links_staff_to_the_admin(
    client, dashboard_user, staff
):
    add = reverse("admin:heatmaps_backtestrun_add")
    client.force_login(dashboard_user)
    html = client.get(reverse("backtests")).content.decode()
    assert "python manage.py backtest --symbol BTCUSDT" in html and f'href="{add}"' not in html
    client.force_login(staff)
    assert f'href="{add}"' in client.get(reverse("backtests")).content.decode()


def test_the_login_form_logs_in_and_lands_on_the_page_asked_for(client, dashboard_user):
    page = client.get(f"{reverse('login')}?next={reverse('map')}")
    assert page.status_code == 200
    assert b'name="username"' in page.content and b"/static/css/liqmap.css" in page.content
    response = client.post(
        reverse("login"),
        {"username": "trader", "password": PASSWORD, "next": reverse("map")},
    )
    assert response.status_code == 302 and response.url == reverse("map")


def test_a_wrong_password_is_refused_on_the_same_dark_form(client, dashboard_user):
    response = client.post(reverse("login"), {"username": "trader", "password": "wrong"})
    assert response.status_code == 200
    assert b'class="error-box"' in response.content


def test_logging_out_needs_a_post_and_ends_the_session(trader_client):
    response = trader_client.post(reverse("logout"))
    assert response.status_code == 302
    assert trader_client.get(reverse("heatmap")).status_code == 302


def test_the_heatmap_page_offers_every_timeframe_model_and_leverage_tier(trader_client):
    html = trader_client.get(reverse("heatmap")).content.decode()
    for timeframe in views.TIMEFRAMES:
        assert f'name="timeframe" value="{timeframe}"' in html
    for model in views.MODELS:
        assert f'<option value="{model}">' in html
    for tier in views.LEVERAGE_TIERS:
        assert f'name="leverage" value="{tier}" checked' in html


def test_the_pages_offer_exactly_the_choices_the_api_accepts():
    assert list(params.TIMEFRAMES_MS) == views.TIMEFRAMES
    assert list(params.LEVERAGE_TIERS) == views.LEVERAGE_TIERS
    assert set(views.MODELS) == set(registry.MODEL_NAMES)
    assert views.DEFAULT_TIMEFRAME in views.TIMEFRAMES


@pytest.fixture
def fresh_sample_answer():
    from heatmaps import sample_data

    sample_data._answers.clear()
    yield sample_data
    sample_data._answers.clear()


def ingest_run(source: str):
    from datetime import date

    from heatmaps.models import IngestRun

    return IngestRun.objects.create(
        symbol="BTCUSDT",
        start=date(2024, 1, 1),
        end=date(2024, 1, 10),
        source=source,
        status=IngestRun.Status.OK,
    )


def test_the_sample_is_known_by_where_it_was_ingested_from(served, fresh_sample_answer):
    assert not fresh_sample_answer.is_sample()
    ingest_run("/srv/binance")
    fresh_sample_answer._answers.clear()
    assert not fresh_sample_answer.is_sample()
    ingest_run("data/sample/sim-dev")  # as `make demo` passes it, relative to the project
    fresh_sample_answer._answers.clear()
    assert fresh_sample_answer.is_sample()


def test_the_sample_answer_is_kept_per_snapshot_and_can_be_forced(
    served, fresh_sample_answer, settings, django_assert_num_queries
):
    ingest_run("data/sample/sim-dev")
    assert fresh_sample_answer.is_sample()
    with django_assert_num_queries(0):  # the same snapshot: no query
        assert fresh_sample_answer.is_sample()
    settings.SAMPLE_DATA = False
    assert not fresh_sample_answer.is_sample()


def test_the_badge_shows_on_the_pages_only_for_the_sample(
    served, trader_client, fresh_sample_answer
):
    assert b"sample-badge" not in trader_client.get(reverse("heatmap")).content
    ingest_run("data/sample/sim-dev")
    fresh_sample_answer._answers.clear()
    page = trader_client.get(reverse("map")).content.decode()
    assert "Sample data · synthetic positions on real candles" in page


def test_every_page_has_the_svg_favicon(trader_client):
    page = trader_client.get(reverse("heatmap")).content.decode()
    assert '<link rel="icon" type="image/svg+xml" href="/static/img/favicon.svg">' in page
    assert finders.find("img/favicon.svg")
