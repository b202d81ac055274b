"""Exchange credentials: API keys kept encrypted at rest (django-cryptography)."""

from __future__ import annotations

import pickle
from typing import Any

from django.conf import settings
from django.db import models
from django_cryptography.fields import get_encrypted_field
from django_cryptography.utils.crypto import FernetBytes

API_KEY_MAX_LENGTH = 128
API_SECRET_MAX_LENGTH = 256


def current_cipher() -> FernetBytes:
    """The cipher of the running configuration.

    django-cryptography derives `CRYPTOGRAPHY_KEY` from the configured one (PBKDF2 with
    `CRYPTOGRAPHY_SALT`) once, at import, and writes the derived key back into settings;
    its own fields then keep the cipher they were built with. Reading the setting at each
    use instead lets a key rotation, and a test's `override_settings`, take effect.
    """
    return FernetBytes(settings.CRYPTOGRAPHY_KEY)


class SecretCharField(get_encrypted_field(models.CharField, wasinstance=True)):
    """A CharField stored encrypted, in django-cryptography's format, under the current key.

    Its values can only be compared for NULL: the ciphertext of a value changes with
    every write."""

    def _dump(self, value: Any) -> bytes:
        return current_cipher().encrypt(pickle.dumps(value))

    def _load(self, value: bytes) -> Any:
        return pickle.loads(current_cipher().decrypt(value, self.ttl))


class Exchange(models.TextChoices):
    BINANCE = "binance", "Binance"
    BINANCE_TESTNET = "binance_testnet", "Binance testnet"


class CheckStatus(models.TextChoices):
    """What the exchange said of a credential the last time it was checked."""

    UNCHECKED = "", "unchecked"
    PENDING = "pending", "check queued"
    VALID = "valid", "valid"
    REJECTED = "rejected", "rejected by the exchange"
    ERROR = "error", "could not be checked"


CHECK_DETAIL_MAX_LENGTH = 300


class ExchangeCredential(models.Model):
    """One user's API key for one exchange account. The key and the secret are read only
    through `accounts.credentials.decrypted`, by the worker code that calls the exchange."""

    owner = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="exchange_credentials"
    )
    exchange = models.CharField(max_length=32, choices=Exchange.choices)
    label = models.CharField(max_length=100)
    api_key = SecretCharField(max_length=API_KEY_MAX_LENGTH)
    api_secret = SecretCharField(max_length=API_SECRET_MAX_LENGTH)
    key_last_four = models.CharField(
        max_length=4, help_text="The key's last four characters, to recognise it by."
    )
    created_at = models.DateTimeField(auto_now_add=True)
    last_used_at = models.DateTimeField(null=True, blank=True)
    # The latest check of the key with the exchange (accounts.credential_check).
    checked_at = models.DateTimeField(
        null=True, blank=True, help_text="When the latest check with the exchange finished."
    )
    check_status = models.CharField(
        max_length=16, choices=CheckStatus.choices, default=CheckStatus.UNCHECKED, blank=True
    )
    check_detail = models.CharField(
        max_length=CHECK_DETAIL_MAX_LENGTH,
        blank=True,
        default="",
        help_text="What the exchange answered, e.g. the account's permissions or its error.",
    )

    class Meta:
        ordering = ("label", "id")
        constraints = [
            models.UniqueConstraint(fields=("owner", "label"), name="unique_credential_label")
        ]

    def __str__(self) -> str:
        return f"{self.label} ({self.exchange}, …{self.key_last_four})"


API_TOKEN_PREFIX_LENGTH = 8


class ApiToken(models.Model):
    """A named API token of one user; a user may hold several and revoke each.

    Only a SHA-256 of the key is stored, with its first characters to recognise it by:
    the full key is shown once, when the token is created (accounts.tokens.create_token).
    A revoked token is kept, for the trail, and no longer authenticates."""

    owner = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="api_tokens"
    )
    name = models.CharField(max_length=100)
    key_hash = models.CharField(max_length=64, unique=True, editable=False)
    prefix = models.CharField(
        max_length=API_TOKEN_PREFIX_LENGTH,
        editable=False,
        help_text="The key's first characters, to recognise it by.",
    )
    created_at = models.DateTimeField(auto_now_add=True)
    last_used_at = models.DateTimeField(null=True, blank=True)
    revoked_at = models.DateTimeField(null=True, blank=True, db_index=True)

    class Meta:
        ordering = ("-created_at", "-id")
        constraints = [
            models.UniqueConstraint(
                fields=("owner", "name"),
                condition=models.Q(revoked_at__isnull=True),
                name="unique_active_api_token_name",
            )
        ]

    def __str__(self) -> str:
        return f"{self.name} ({self.prefix}…)"

    @property
    def is_active(self) -> bool:
        return self.revoked_at is None
