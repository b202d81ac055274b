"""Browser pages of replay: transactions (import, browse, launch) and replays."""

from django.urls import path

from replay import web_views

urlpatterns = [
    path("transactions/", web_views.transaction_pages, name="transaction-pages"),
    path("replays/new/", web_views.replay_new_page, name="replay-new-page"),
    path("replays/<int:pk>/", web_views.replay_page, name="replay-page"),
]
