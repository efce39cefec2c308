from django.urls import path
from django.views.generic import RedirectView

from heatmaps import views

urlpatterns = [
    path("", RedirectView.as_view(pattern_name="heatmap"), name="home"),
    path("heatmap/", views.heatmap, name="heatmap"),
    path("map/", views.liquidation_map, name="map"),
    path("compare/", views.compare, name="compare"),
    path("backtests/", views.backtests, name="backtests"),
]
