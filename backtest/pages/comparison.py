"""Placeholder until the page lands."""

urlpatterns: list = []
