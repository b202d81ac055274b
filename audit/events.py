"""The one hook every security event is recorded through.

Apps call `record_event(SecurityAction.X, actor=..., target=..., request=..., detail=...)`
from their services; nothing else writes `SecurityEvent` rows.
"""

from __future__ import annotations

import ipaddress
from collections.abc import Mapping
from typing import Any

from auditlog.middleware import AuditlogMiddleware
from django.db import models
from django.http import HttpRequest

from audit.models import SecurityAction, SecurityEvent

MASK = "***"
SECRET_KEY_PARTS = ("secret", "password", "api_key", "token", "key")
# The last four characters identify a key to its owner without revealing it.
SHOWN_KEYS = frozenset({"key_last_four"})
USER_AGENT_MAX = SecurityEvent._meta.get_field("user_agent").max_length
TARGET_REPR_MAX = SecurityEvent._meta.get_field("target_repr").max_length


def mask_secrets(value: Any) -> Any:
    """A copy of `value` with the value of every secret-looking key replaced by "***",
    at any depth of dicts and lists."""
    if isinstance(value, Mapping):
        return {
            key: MASK if _is_secret_key(key) else mask_secrets(item) for key, item in value.items()
        }
    if isinstance(value, list | tuple):
        return [mask_secrets(item) for item in value]
    return value


def _is_secret_key(key: Any) -> bool:
    name = str(key).lower()
    return name not in SHOWN_KEYS and any(part in name for part in SECRET_KEY_PARTS)


def client_ip(request: HttpRequest) -> str | None:
    """The client's address by django-auditlog's rule (first X-Forwarded-For hop, port
    removed, else REMOTE_ADDR), so both trails agree; None if it is not an address."""
    address = AuditlogMiddleware._get_remote_addr(request)
    try:
        return str(ipaddress.ip_address((address or "").strip()))
    except ValueError:
        return None


def record_event(
    action: SecurityAction | str,
    *,
    actor=None,
    target: models.Model | None = None,
    request: HttpRequest | None = None,
    detail: Mapping[str, Any] | None = None,
) -> SecurityEvent:
    """Write one security event. `actor` is the user who acted (None when unknown, e.g.
    a failed login); `target` the object acted on; `request` gives IP and user agent."""
    event = SecurityEvent(
        action=SecurityAction(action),
        detail=mask_secrets(dict(detail or {})),
    )
    if actor is not None and actor.is_authenticated:
        event.actor = actor
        event.actor_username = actor.get_username()
    if target is not None:
        event.target_type = target._meta.label_lower
        event.target_id = str(target.pk)
        event.target_repr = str(target)[:TARGET_REPR_MAX]
    if request is not None:
        event.ip = client_ip(request)
        event.user_agent = request.headers.get("User-Agent", "")[:USER_AGENT_MAX]
    event.save()
    return event
