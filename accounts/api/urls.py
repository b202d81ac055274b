"""Routes of the accounts API, mounted under /api/."""

from django.urls import path

from accounts.api import views

urlpatterns = [
    path("credentials/", views.CredentialListView.as_view(), name="credential-list"),
    path("credentials/<int:pk>/", views.CredentialDetailView.as_view(), name="credential-detail"),
    path(
        "credentials/<int:pk>/check/",
        views.CredentialCheckView.as_view(),
        name="credential-check",
    ),
    path("tokens/", views.TokenListView.as_view(), name="token-list"),
    path("tokens/<int:pk>/", views.TokenDetailView.as_view(), name="token-detail"),
]
