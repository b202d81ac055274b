"""Routes of the transactions API (imports and the trader's fills), mounted under /api/."""

from django.urls import path

from accounts.api.shares import shares_view
from replay import selectors
from replay.api import transaction_views as views

urlpatterns = [
    path("transactions/history/", views.TransactionListView.as_view(), name="transaction-list"),
    path(
        "transactions/history/upload/",
        views.TransactionUploadView.as_view(),
        name="transaction-upload",
    ),
    path(
        "transactions/history/fetch/",
        views.TransactionFetchView.as_view(),
        name="transaction-fetch",
    ),
    path(
        "transactions/history/<int:pk>/",
        views.TransactionDetailView.as_view(),
        name="transaction-detail",
    ),
    path(
        "transactions/summary/",
        views.TransactionSummaryView.as_view(),
        name="transaction-summary",
    ),
    path("transactions/imports/", views.ImportBatchListView.as_view(), name="import-batch-list"),
    path(
        "transactions/imports/<int:pk>/",
        views.ImportBatchDetailView.as_view(),
        name="import-batch-detail",
    ),
    path(
        "transactions/imports/<int:pk>/shares/",
        shares_view(selectors.visible_import_batches, "import"),
        name="import-batch-shares",
    ),
]
