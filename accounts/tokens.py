"""Named API tokens: create (the key is returned once), list, revoke, authenticate.

The API and the authentication class go through these functions. A key is never stored,
logged or put in an audit event: only its SHA-256 and its first characters are kept.
"""

from __future__ import annotations

import hashlib
import secrets
from datetime import timedelta

from django.db import IntegrityError, transaction
from django.db.models import QuerySet
from django.http import HttpRequest
from django.utils import timezone

from accounts.models import API_TOKEN_PREFIX_LENGTH, ApiToken
from audit.events import record_event
from audit.models import SecurityAction

# Our keys start with this, so they are told apart from DRF's 40-hex-digit keys (and
# secret scanners can recognise them).
KEY_MARK = "ct_"
KEY_RANDOM_BYTES = 32
NAME_MAX_LENGTH = ApiToken._meta.get_field("name").max_length
# last_used_at is written at most this often per token, not on every request.
LAST_USED_RESOLUTION = timedelta(minutes=1)


class InvalidToken(Exception):
    """Bad input: {field: [messages]}."""

    def __init__(self, errors: dict[str, list[str]]) -> None:
        super().__init__("; ".join(f"{name}: {' '.join(msgs)}" for name, msgs in errors.items()))
        self.errors = errors


def hash_key(key: str) -> str:
    return hashlib.sha256(key.encode()).hexdigest()


def is_api_token_key(key: str) -> bool:
    return key.startswith(KEY_MARK)


def tokens_of(user) -> QuerySet[ApiToken]:
    """The user's own tokens that still work, newest first; nobody else's, whatever
    their role."""
    if not user.is_authenticated:
        return ApiToken.objects.none()
    return ApiToken.objects.filter(owner=user, revoked_at__isnull=True)


def _clean_name(owner, name: object) -> str:
    name = name.strip() if isinstance(name, str) else ""
    if not name:
        raise InvalidToken({"name": ["name is required"]})
    if len(name) > NAME_MAX_LENGTH:
        raise InvalidToken({"name": [f"name must be at most {NAME_MAX_LENGTH} characters"]})
    if tokens_of(owner).filter(name=name).exists():
        raise InvalidToken({"name": ["you already have a token with this name"]})
    return name


def create_token(owner, name: str, *, request: HttpRequest | None = None) -> tuple[ApiToken, str]:
    """A new token for `owner` and its key: the only time the key is available."""
    name = _clean_name(owner, name)
    key = KEY_MARK + secrets.token_urlsafe(KEY_RANDOM_BYTES)
    token = ApiToken(
        owner=owner, name=name, key_hash=hash_key(key), prefix=key[:API_TOKEN_PREFIX_LENGTH]
    )
    try:
        with transaction.atomic():
            token.save()
    except IntegrityError:  # the same name, created concurrently
        raise InvalidToken({"name": ["you already have a token with this name"]}) from None
    record_event(
        SecurityAction.TOKEN_CREATED,
        actor=owner,
        target=token,
        request=request,
        detail={"name": token.name, "prefix": token.prefix},
    )
    return token, key


def revoke_token(token: ApiToken, *, actor, request: HttpRequest | None = None) -> None:
    """Stop `token` from authenticating; the row stays, for the trail."""
    revoked = ApiToken.objects.filter(pk=token.pk, revoked_at__isnull=True).update(
        revoked_at=timezone.now()
    )
    if not revoked:  # already revoked (a concurrent request): nothing to record
        return
    token.refresh_from_db(fields=["revoked_at"])
    record_event(
        SecurityAction.TOKEN_REVOKED,
        actor=actor,
        target=token,
        request=request,
        detail={"name": token.name, "prefix": token.prefix, "owner": token.owner_id},
    )


def authenticate_key(key: str) -> ApiToken | None:
    """The working token with this key (its owner loaded), noting its use; else None."""
    if not is_api_token_key(key):
        return None
    token = (
        ApiToken.objects.select_related("owner")
        .filter(key_hash=hash_key(key), revoked_at__isnull=True)
        .first()
    )
    if token is None:
        return None
    now = timezone.now()
    if token.last_used_at is None or now - token.last_used_at >= LAST_USED_RESOLUTION:
        # An update, not save(): no signals, and a concurrent revocation is not undone.
        ApiToken.objects.filter(pk=token.pk).update(last_used_at=now)
        token.last_used_at = now
    return token
