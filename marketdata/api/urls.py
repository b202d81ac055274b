from django.urls import path

from marketdata.api import views

urlpatterns = [
    path("symbols/", views.SymbolListView.as_view(), name="marketdata-symbols"),
    path("timeframes/", views.TimeframeListView.as_view(), name="marketdata-timeframes"),
    path("import/", views.CandleImportView.as_view(), name="marketdata-import"),
    path("sync/", views.SyncRequestView.as_view(), name="marketdata-sync"),
    path("sync-runs/", views.SyncRunListView.as_view(), name="marketdata-sync-runs"),
    path("sync-runs/<int:pk>/", views.SyncRunDetailView.as_view(), name="marketdata-sync-run"),
    path(
        "sync-runs/<int:pk>/cancel/",
        views.SyncRunCancelView.as_view(),
        name="marketdata-sync-run-cancel",
    ),
    path(
        "<str:symbol>/<str:timeframe>/", views.CandleRangeView.as_view(), name="marketdata-candles"
    ),
]
