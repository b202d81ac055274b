"""Routes of the accounts API, mounted under /api/."""

from django.urls import path

from accounts.api import views

urlpatterns = [
    path("credentials/", views.CredentialListView.as_view(), name="credential-list"),
    path("credentials/<int:pk>/", views.CredentialDetailView.as_view(), name="credential-detail"),
]
