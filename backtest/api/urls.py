"""Routes of the backtest API, mounted under /api/.

Explicit paths, no router: the two report files are `report.csv` and `report.json`, and
DRF's format-suffix patterns would read those suffixes as a renderer choice.
"""

from django.urls import path

from accounts.api.shares import shares_view
from backtest import selectors
from backtest.api import paper_views, views

urlpatterns = [
    path("strategies/", views.StrategyListView.as_view(), name="strategy-list"),
    path("strategies/validate/", views.StrategyValidateView.as_view(), name="strategy-validate"),
    path(
        "strategies/templates/", views.StrategyTemplateListView.as_view(), name="strategy-templates"
    ),
    path(
        "strategies/indicators/", views.IndicatorCatalogueView.as_view(), name="indicator-catalogue"
    ),
    path(
        "strategies/from-template/",
        views.StrategyFromTemplateView.as_view(),
        name="strategy-from-template",
    ),
    path("strategies/<int:pk>/", views.StrategyDetailView.as_view(), name="strategy-detail"),
    path(
        "strategies/<int:pk>/shares/",
        shares_view(selectors.visible_strategies, "strategy"),
        name="strategy-shares",
    ),
    path("backtests/", views.BacktestListView.as_view(), name="backtest-list"),
    path("backtests/<int:pk>/", views.BacktestDetailView.as_view(), name="backtest-detail"),
    path(
        "backtests/<int:pk>/trades/", views.BacktestTradeListView.as_view(), name="backtest-trades"
    ),
    path("backtests/<int:pk>/equity/", views.BacktestEquityView.as_view(), name="backtest-equity"),
    path(
        "backtests/<int:pk>/shares/",
        shares_view(selectors.visible_backtests, "backtest"),
        name="backtest-shares",
    ),
    path("backtests/<int:pk>/cancel/", views.BacktestCancelView.as_view(), name="backtest-cancel"),
    path("backtests/<int:pk>/rerun/", views.BacktestRerunView.as_view(), name="backtest-rerun"),
    path(
        "backtests/<int:pk>/report.csv",
        views.BacktestReportCsvView.as_view(),
        name="backtest-report-csv",
    ),
    path(
        "backtests/<int:pk>/report.json",
        views.BacktestReportJsonView.as_view(),
        name="backtest-report-json",
    ),
    path("sweeps/", views.SweepListView.as_view(), name="sweep-list"),
    path("sweeps/<int:pk>/", views.SweepDetailView.as_view(), name="sweep-detail"),
    path("sweeps/<int:pk>/cancel/", views.SweepCancelView.as_view(), name="sweep-cancel"),
    path(
        "sweeps/<int:pk>/shares/",
        shares_view(selectors.visible_sweeps, "sweep"),
        name="sweep-shares",
    ),
    path("paper-sessions/", paper_views.PaperSessionListView.as_view(), name="paper-session-list"),
    path(
        "paper-sessions/kill-all/",
        paper_views.PaperSessionKillAllView.as_view(),
        name="paper-session-kill-all",
    ),
    path(
        "paper-sessions/<int:pk>/",
        paper_views.PaperSessionDetailView.as_view(),
        name="paper-session-detail",
    ),
    path(
        "paper-sessions/<int:pk>/stop/",
        paper_views.PaperSessionStopView.as_view(),
        name="paper-session-stop",
    ),
    path(
        "paper-sessions/<int:pk>/kill/",
        paper_views.PaperSessionKillView.as_view(),
        name="paper-session-kill",
    ),
]
