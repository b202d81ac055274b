"""The settings page, mounted at /settings/."""

from django.urls import path

from accounts import settings_views

urlpatterns = [
    path("", settings_views.settings_page, name="settings-page"),
]
