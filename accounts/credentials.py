"""The exchange-credential vault: store, list, delete, use, and re-encrypt after a key
rotation. The API, the admin and the CLI all go through these functions.

A key or secret never appears in an error message, a log line, an audit event or a
repr: errors name the field and the rule, never the value.
"""

from __future__ import annotations

import logging
import pickle
from dataclasses import dataclass, field

from cryptography.hazmat.primitives.kdf.pbkdf2 import PBKDF2HMAC
from django.conf import settings
from django.db import IntegrityError, connection, transaction
from django.http import HttpRequest
from django.utils import timezone
from django.utils.encoding import force_bytes
from django_cryptography.utils.crypto import FernetBytes

from accounts.models import (
    API_KEY_MAX_LENGTH,
    API_SECRET_MAX_LENGTH,
    Exchange,
    ExchangeCredential,
    current_cipher,
)
from audit.events import record_event
from audit.models import SecurityAction

logger = logging.getLogger(__name__)

API_KEY_MIN_LENGTH = 8
LABEL_MAX_LENGTH = ExchangeCredential._meta.get_field("label").max_length
SECRET_FIELDS = ("api_key", "api_secret")
# PBKDF2 iterations django-cryptography derives its key with (django_cryptography.conf).
KEY_DERIVATION_ITERATIONS = 30_000


class InvalidCredential(Exception):
    """Bad input: {field: [messages]}; the messages never contain a key or secret."""

    def __init__(self, errors: dict[str, list[str]]) -> None:
        super().__init__("; ".join(f"{name}: {' '.join(msgs)}" for name, msgs in errors.items()))
        self.errors = errors


@dataclass(frozen=True)
class ApiKeyPair:
    """A decrypted key and secret, for the code that signs exchange requests. Its repr
    shows only the key's last four characters (tracebacks and logs print reprs)."""

    api_key: str = field(repr=False)
    api_secret: str = field(repr=False)

    def __repr__(self) -> str:
        return f"ApiKeyPair(api_key='…{self.api_key[-4:]}', api_secret='***')"


def _secret_problems(name: str, value: object, min_length: int, max_length: int) -> list[str]:
    if not isinstance(value, str) or not value:
        return [f"{name} is required"]
    if len(value) > max_length:
        return [f"{name} must be at most {max_length} characters"]
    if len(value) < min_length:
        return [f"{name} must be at least {min_length} characters"]
    if any(char.isspace() for char in value) or not value.isprintable():
        return [f"{name} must not contain spaces or control characters"]
    return []


def _validate(owner, exchange: object, label: object, api_key: object, api_secret: object):
    errors: dict[str, list[str]] = {}
    if exchange not in Exchange.values:
        errors["exchange"] = [f"exchange must be one of: {', '.join(Exchange.values)}"]
    label = label.strip() if isinstance(label, str) else ""
    if not label:
        errors["label"] = ["label is required"]
    elif len(label) > LABEL_MAX_LENGTH:
        errors["label"] = [f"label must be at most {LABEL_MAX_LENGTH} characters"]
    elif ExchangeCredential.objects.filter(owner=owner, label=label).exists():
        errors["label"] = ["you already have a credential with this label"]
    for name, value, min_length, max_length in (
        ("api_key", api_key, API_KEY_MIN_LENGTH, API_KEY_MAX_LENGTH),
        ("api_secret", api_secret, API_KEY_MIN_LENGTH, API_SECRET_MAX_LENGTH),
    ):
        if problems := _secret_problems(name, value, min_length, max_length):
            errors[name] = problems
    if errors:
        raise InvalidCredential(errors)
    return label


def store_credential(
    owner,
    *,
    exchange: str,
    label: str,
    api_key: str,
    api_secret: str,
    request: HttpRequest | None = None,
) -> ExchangeCredential:
    """Encrypt and save a key pair for `owner`; InvalidCredential names each bad field."""
    label = _validate(owner, exchange, label, api_key, api_secret)
    credential = ExchangeCredential(
        owner=owner,
        exchange=exchange,
        label=label,
        api_key=api_key,
        api_secret=api_secret,
        key_last_four=api_key[-4:],
    )
    try:
        with transaction.atomic():
            credential.save()
            record_event(
                SecurityAction.CREDENTIAL_STORED,
                actor=owner,
                target=credential,
                request=request,
                detail={"exchange": exchange, "label": label},
            )
    except IntegrityError as exc:
        if "unique_credential_label" not in str(exc):
            raise
        # Stored meanwhile by a concurrent request with the same label.
        raise InvalidCredential(
            {"label": ["you already have a credential with this label"]}
        ) from None
    logger.info("credential #%s stored for user #%s", credential.pk, owner.pk)
    return credential


def delete_credential(
    credential: ExchangeCredential, *, actor, request: HttpRequest | None = None
) -> None:
    with transaction.atomic():
        record_event(
            SecurityAction.CREDENTIAL_DELETED,
            actor=actor,
            target=credential,
            request=request,
            detail={"exchange": credential.exchange, "label": credential.label},
        )
        credential.delete()


def decrypted(credential: ExchangeCredential, purpose: str) -> ApiKeyPair:
    """The key pair in clear, for worker code about to call the exchange. Each use is
    recorded (last_used_at and a 'credential used' security event naming `purpose`)."""
    if not purpose:
        raise ValueError("say what the credential is used for")
    api_key, api_secret = ExchangeCredential.objects.values_list(*SECRET_FIELDS).get(
        pk=credential.pk
    )
    now = timezone.now()
    with transaction.atomic():
        ExchangeCredential.objects.filter(pk=credential.pk).update(last_used_at=now)
        record_event(
            SecurityAction.CREDENTIAL_USED,
            actor=credential.owner,
            target=credential,
            detail={"purpose": purpose},
        )
    credential.last_used_at = now
    logger.info("credential #%s used for %s", credential.pk, purpose)
    return ApiKeyPair(api_key=api_key, api_secret=api_secret)


# --- Key rotation ------------------------------------------------------------------------


def derive_key(configured_key: str | bytes | None) -> bytes:
    """The encryption key django-cryptography derives from a configured key (the value of
    FIELD_ENCRYPTION_KEY; None falls back to SECRET_KEY), as its settings do at import."""
    kdf = PBKDF2HMAC(
        algorithm=settings.CRYPTOGRAPHY_DIGEST,
        length=settings.CRYPTOGRAPHY_DIGEST.digest_size,
        salt=force_bytes(settings.CRYPTOGRAPHY_SALT),
        iterations=KEY_DERIVATION_ITERATIONS,
    )
    return kdf.derive(force_bytes(configured_key or settings.SECRET_KEY))


@dataclass(frozen=True)
class RotationResult:
    reencrypted: int
    already_current: int


class RotationFailed(Exception):
    pass


def _opened(cipher: FernetBytes, ciphertext: bytes) -> str | None:
    """The text `cipher` decrypts, or None. The signature is made with SECRET_KEY, not the
    encryption key, so a wrong key shows only in what decryption yields: bad padding, or
    bytes that are not a pickled string."""
    try:
        value = pickle.loads(cipher.decrypt(ciphertext))
    except Exception:  # bytes decrypted with a wrong key fail to unpickle in many ways
        return None
    return value if isinstance(value, str) else None


def rotate_encryption_key(old_configured_key: str) -> RotationResult:
    """Re-encrypt every credential stored under the old key with the current one, all or
    nothing. Rows already under the current key are left as they are, so a second run is
    harmless; a row neither key opens fails the whole rotation and changes nothing."""
    old = FernetBytes(derive_key(old_configured_key))
    current = current_cipher()
    table = connection.ops.quote_name(ExchangeCredential._meta.db_table)
    columns = ", ".join(connection.ops.quote_name(name) for name in ("id", *SECRET_FIELDS))
    reencrypted = already_current = 0
    with transaction.atomic(), connection.cursor() as cursor:
        cursor.execute(f"SELECT {columns} FROM {table} ORDER BY id FOR UPDATE")
        for pk, *ciphertexts in cursor.fetchall():
            ciphertexts = [bytes(value) for value in ciphertexts]
            clear = [_opened(old, value) for value in ciphertexts]
            if None not in clear:
                ExchangeCredential.objects.filter(pk=pk).update(
                    **dict(zip(SECRET_FIELDS, clear, strict=True))
                )
                reencrypted += 1
            elif all(_opened(current, value) is not None for value in ciphertexts):
                already_current += 1
            else:
                raise RotationFailed(
                    f"credential #{pk} opens with neither the old nor the current key; "
                    "nothing was changed"
                )
    return RotationResult(reencrypted=reencrypted, already_current=already_current)
