"""Browser pages of marketdata."""

from django.urls import path

from marketdata import web_views

urlpatterns = [
    path("market/", web_views.market_page, name="market-page"),
]
