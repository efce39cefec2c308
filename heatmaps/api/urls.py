from django.urls import path

from . import views

urlpatterns = [
    path("liquidations/heatmap", views.HeatmapView.as_view(), name="api-heatmap"),
    path("liquidations/levels", views.LevelsView.as_view(), name="api-levels"),
    path("liquidations/history", views.HistoryView.as_view(), name="api-history"),
    path("liquidations/compare-models", views.CompareModelsView.as_view(), name="api-compare"),
    path("trading/signals", views.SignalsView.as_view(), name="api-signals"),
    path("backtests", views.BacktestListView.as_view(), name="api-backtests"),
    path("backtests/<int:pk>", views.BacktestDetailView.as_view(), name="api-backtest"),
    path("health", views.HealthView.as_view(), name="api-health"),
]
