"""Failed-login lockout: after LOGIN_LOCKOUT_ATTEMPTS failed logins for one username
within LOGIN_LOCKOUT_SECONDS (or LOGIN_LOCKOUT_IP_ATTEMPTS from one client address), every
further attempt for it is refused, even with the right password, for LOGIN_LOCKOUT_SECONDS.

`LockoutModelBackend` takes ModelBackend's place in AUTHENTICATION_BACKENDS, so every
password check (the admin's login form, `client.login`, any later login page) goes
through it. Counters live in the cache (Redis), shared by every web process; each lockout
is recorded once as a `lockout` security event.

The client address is DRF's throttling identity (`NUM_PROXIES` decides how far to trust
X-Forwarded-For), so the address lockout and the API rate limits see the same client.
"""

from __future__ import annotations

import hashlib

from django.conf import settings
from django.contrib.auth import get_user_model
from django.contrib.auth.backends import ModelBackend
from django.core.cache import cache
from django.core.exceptions import PermissionDenied
from django.http import HttpRequest
from rest_framework.throttling import BaseThrottle

from audit.events import record_event
from audit.models import SecurityAction

DEFAULT_ATTEMPTS = 5
DEFAULT_SECONDS = 900
# A shared address (an office, a proxy) sees several people's typos: by default it may
# fail this many times more often than one username before it is locked out.
DEFAULT_IP_FACTOR = 4
KEY_PREFIX = "lockout"
USERNAME = "username"
IP = "ip"


def attempts_allowed() -> int:
    return getattr(settings, "LOGIN_LOCKOUT_ATTEMPTS", DEFAULT_ATTEMPTS)


def ip_attempts_allowed() -> int:
    return getattr(settings, "LOGIN_LOCKOUT_IP_ATTEMPTS", attempts_allowed() * DEFAULT_IP_FACTOR)


def lockout_seconds() -> int:
    return getattr(settings, "LOGIN_LOCKOUT_SECONDS", DEFAULT_SECONDS)


def client_address(request: HttpRequest | None) -> str | None:
    if request is None:
        return None
    return BaseThrottle().get_ident(request) or None


def _normalise(username: str) -> str:
    return username.strip().lower()


def _key(kind: str, scope: str, ident: str) -> str:
    digest = hashlib.sha256(ident.encode()).hexdigest()
    return f"{KEY_PREFIX}:{kind}:{scope}:{digest}"


def _subjects(username: str | None, address: str | None) -> list[tuple[str, str, int]]:
    """(scope, identity, attempts allowed) of each counter an attempt counts against."""
    subjects = []
    if username:
        subjects.append((USERNAME, _normalise(username), attempts_allowed()))
    if address:
        subjects.append((IP, address, ip_attempts_allowed()))
    return subjects


def is_locked_out(username: str | None, address: str | None) -> bool:
    keys = [_key("locked", scope, ident) for scope, ident, _ in _subjects(username, address)]
    return bool(keys) and bool(cache.get_many(keys))


def _count_failure(key: str, seconds: int) -> int:
    """One more failure in the window that opened with the first one."""
    cache.add(key, 0, seconds)
    try:
        return cache.incr(key)  # Redis INCR keeps the key's expiry
    except ValueError:  # the window closed between add and incr
        cache.set(key, 1, seconds)
        return 1


def register_failure(username: str | None, request: HttpRequest | None) -> None:
    """Count a failed login; lock out (and record it, once) at the threshold."""
    seconds = lockout_seconds()
    address = client_address(request)
    for scope, ident, allowed in _subjects(username, address):
        locked_key = _key("locked", scope, ident)
        if cache.get(locked_key):
            continue
        failures = _count_failure(_key("failures", scope, ident), seconds)
        if failures < allowed:
            continue
        if cache.add(locked_key, failures, seconds):  # only the first one records it
            cache.delete(_key("failures", scope, ident))
            _record_lockout(scope, username, address, failures, seconds, request)


def _record_lockout(scope, username, address, failures, seconds, request) -> None:
    detail = {"scope": scope, "failures": failures, "locked_seconds": seconds}
    target = None
    if scope == USERNAME:
        detail["attempted_username"] = str(username)[:150]
        user_model = get_user_model()
        target = user_model._default_manager.filter(**{user_model.USERNAME_FIELD: username}).first()
    else:
        detail["address"] = address
    record_event(SecurityAction.LOCKOUT, target=target, request=request, detail=detail)


def clear_failures(username: str) -> None:
    """After a successful login: the username's earlier failures no longer count."""
    cache.delete(_key("failures", USERNAME, _normalise(username)))


def unlock(*, username: str | None = None, address: str | None = None) -> None:
    """Lift a lockout and forget the failures (an operator's remedy)."""
    keys = []
    for scope, ident, _ in _subjects(username, address):
        keys += [_key("locked", scope, ident), _key("failures", scope, ident)]
    cache.delete_many(keys)


class LockoutModelBackend(ModelBackend):
    """ModelBackend that refuses locked-out usernames and addresses and counts failures.

    A refusal raises PermissionDenied: Django then stops trying other backends and sends
    `user_login_failed`, so the refused attempt is in the trail as a failed login."""

    def authenticate(self, request, username=None, password=None, **kwargs):
        if username is None:
            username = kwargs.get(get_user_model().USERNAME_FIELD)
        if username is None or password is None:
            return None
        if is_locked_out(username, client_address(request)):
            raise PermissionDenied("too many failed logins; try again later")
        user = super().authenticate(request, username=username, password=password, **kwargs)
        if user is None:
            register_failure(username, request)
        else:
            clear_failures(username)
        return user
