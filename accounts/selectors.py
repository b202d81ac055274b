"""Reads of the accounts app that respect who is asking."""

from __future__ import annotations

from django.db.models import QuerySet

from accounts.models import ExchangeCredential


def credentials_of(user) -> QuerySet[ExchangeCredential]:
    """The user's own exchange credentials, and nobody else's (operators included:
    operators see every run, never another user's keys). The key and the secret stay
    encrypted: they are not even loaded, so listing never decrypts them."""
    if not user.is_authenticated:
        return ExchangeCredential.objects.none()
    return ExchangeCredential.objects.filter(owner=user).defer("api_key", "api_secret")
