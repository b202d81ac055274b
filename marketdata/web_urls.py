"""Browser pages of marketdata."""

urlpatterns: list = []
