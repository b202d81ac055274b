"""Failed-login lockout, through the admin's login form (the login page today): after
LOGIN_LOCKOUT_ATTEMPTS failures a username, or an address, is refused for
LOGIN_LOCKOUT_SECONDS even with the right password, and each lockout is recorded once."""

from __future__ import annotations

import pytest
from django.core.cache import cache
from django.test import Client

from accounts import lockout
from audit.models import SecurityAction, SecurityEvent

pytestmark = pytest.mark.django_db

LOGIN_URL = "/admin/login/"
BACKENDS = ["accounts.lockout.LockoutModelBackend", "guardian.backends.ObjectPermissionBackend"]


@pytest.fixture(autouse=True)
def _lockout_settings(settings):
    settings.AUTHENTICATION_BACKENDS = BACKENDS
    settings.LOGIN_LOCKOUT_ATTEMPTS = 3
    settings.LOGIN_LOCKOUT_IP_ATTEMPTS = 6
    settings.LOGIN_LOCKOUT_SECONDS = 900


def log_in(username: str, password: str, address: str = "10.0.0.1") -> bool:
    """One attempt at the admin's login form from `address`; True if it signed in."""
    client = Client(REMOTE_ADDR=address)
    response = client.post(
        LOGIN_URL, {"username": username, "password": password, "next": "/admin/"}
    )
    if response.status_code == 302:
        assert response.headers["Location"] == "/admin/"
        return True
    assert response.status_code == 200
    assert response.context["form"].errors
    return False


def password_of(user) -> str:
    return f"{user.username}-Password-1"


def lockouts() -> list[SecurityEvent]:
    return list(SecurityEvent.objects.filter(action=SecurityAction.LOCKOUT))


def test_the_right_password_signs_in(operator):
    assert log_in("ops", password_of(operator))
    assert lockouts() == []


def test_a_username_is_locked_out_after_the_allowed_failures(operator):
    for _ in range(3):
        assert not log_in("ops", "wrong")

    # Locked: the right password is refused too, from any address.
    assert not log_in("ops", password_of(operator))
    assert not log_in("ops", password_of(operator), address="10.9.9.9")

    [event] = lockouts()
    assert event.actor is None
    assert event.target_type == "auth.user" and event.target_id == str(operator.pk)
    assert event.ip == "10.0.0.1"
    assert event.detail == {
        "scope": "username",
        "failures": 3,
        "locked_seconds": 900,
        "attempted_username": "ops",
    }
    # Refused attempts are failed logins in the trail; the password is never in it.
    assert SecurityEvent.objects.filter(action=SecurityAction.LOGIN_FAILED).count() == 5
    assert password_of(operator) not in str(
        list(SecurityEvent.objects.values_list("detail", flat=True))
    )
    assert not SecurityEvent.objects.filter(action=SecurityAction.LOGIN_SUCCEEDED).exists()


def test_more_attempts_while_locked_record_no_second_lockout(operator):
    for _ in range(8):
        log_in("ops", "wrong")

    assert len(lockouts()) == 1


def test_fewer_failures_than_allowed_do_not_lock(operator):
    for _ in range(2):
        assert not log_in("ops", "wrong")

    assert log_in("ops", password_of(operator))
    assert lockouts() == []


def test_a_successful_login_forgets_earlier_failures(operator):
    for _ in range(2):
        log_in("ops", "wrong")
    assert log_in("ops", password_of(operator))
    for _ in range(2):
        log_in("ops", "wrong")

    assert log_in("ops", password_of(operator))


def test_usernames_are_counted_regardless_of_case(operator):
    log_in("OPS", "wrong")
    log_in("Ops", "wrong")
    log_in("ops", "wrong")

    assert not log_in("ops", password_of(operator))


def test_other_usernames_are_not_locked(operator, make_user):
    other = make_user("staffer", is_staff=True)
    for _ in range(3):
        log_in("ops", "wrong")

    assert log_in("staffer", password_of(other))


def test_unknown_usernames_lock_out_too(operator):
    for _ in range(3):
        log_in("nobody", "wrong")

    [event] = lockouts()
    assert event.target_type == "" and event.detail["attempted_username"] == "nobody"


def test_an_address_is_locked_out_after_failing_across_usernames(operator, make_user):
    for index in range(6):
        assert not log_in(f"guess{index}", "wrong", address="10.6.6.6")

    assert not log_in("ops", password_of(operator), address="10.6.6.6")
    assert log_in("ops", password_of(operator), address="10.7.7.7")
    [event] = lockouts()
    assert event.detail == {
        "scope": "ip",
        "failures": 6,
        "locked_seconds": 900,
        "address": "10.6.6.6",
    }
    assert event.ip == "10.6.6.6"


def test_a_lockout_ends_when_its_window_closes(operator, settings):
    settings.LOGIN_LOCKOUT_SECONDS = 1
    for _ in range(3):
        log_in("ops", "wrong")
    assert not log_in("ops", password_of(operator))

    # The lock and counters are Redis keys that expire with the window.
    locked_key = lockout._key("locked", lockout.USERNAME, "ops")
    client = cache._cache.get_client(locked_key)
    assert 0 < client.pttl(cache.make_key(locked_key)) <= 1000
    cache.delete(locked_key)  # rather than sleeping the window out

    assert log_in("ops", password_of(operator))


def test_unlock_lifts_a_lockout(operator):
    for _ in range(3):
        log_in("ops", "wrong")
    assert not log_in("ops", password_of(operator))

    lockout.unlock(username="ops", address="10.0.0.1")

    assert log_in("ops", password_of(operator))


def test_client_login_is_covered_too(operator):
    for _ in range(3):
        assert not Client().login(username="ops", password="wrong")

    assert not Client().login(username="ops", password=password_of(operator))
    assert len(lockouts()) == 1


def test_the_default_settings(settings):
    del settings.LOGIN_LOCKOUT_ATTEMPTS
    del settings.LOGIN_LOCKOUT_IP_ATTEMPTS
    del settings.LOGIN_LOCKOUT_SECONDS

    assert lockout.attempts_allowed() == 5
    assert lockout.ip_attempts_allowed() == 20
    assert lockout.lockout_seconds() == 900
