"""The settings page."""

urlpatterns: list = []
