"""Routes of the audit API, mounted under /api/audit/."""

from django.urls import path

from audit.api import views

urlpatterns = [
    path("events/", views.SecurityEventListView.as_view(), name="audit-event-list"),
]
