"""Routes of the replays API, mounted under /api/."""

from django.urls import path

from accounts.api.shares import shares_view
from replay import selectors
from replay.api import replay_views as views

urlpatterns = [
    path("replays/", views.ReplayListView.as_view(), name="replay-list"),
    path("replays/<int:pk>/", views.ReplayDetailView.as_view(), name="replay-detail"),
    path(
        "replays/<int:pk>/executions/",
        views.ReplayExecutionListView.as_view(),
        name="replay-executions",
    ),
    path("replays/<int:pk>/cancel/", views.ReplayCancelView.as_view(), name="replay-cancel"),
    path(
        "replays/<int:pk>/shares/",
        shares_view(selectors.visible_replay_runs, "replay"),
        name="replay-shares",
    ),
    path("backtests/<int:pk>/replay/", views.BacktestReplayView.as_view(), name="backtest-replay"),
    path(
        "transactions/history/<int:pk>/replay/",
        views.TransactionReplayView.as_view(),
        name="transaction-replay",
    ),
]
