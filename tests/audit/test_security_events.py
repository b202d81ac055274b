"""Security events: the recording hook, sign-in signals, the operator API, the admin and
the retention command, on the real PostgreSQL."""

from __future__ import annotations

import json
from datetime import timedelta
from io import StringIO

import pytest
from auditlog.models import LogEntry
from django.contrib.auth.models import Permission
from django.core.management import call_command
from django.db import connection
from django.test import Client
from django.urls import reverse
from django.utils import timezone

from audit.events import record_event
from audit.models import SecurityAction, SecurityEvent

pytestmark = pytest.mark.django_db

BROWSER = "Mozilla/5.0 (X11; Linux x86_64) AuditTest/1.0"
EVENTS_URL = "/api/audit/events/"


@pytest.fixture
def audit_reader(operator):
    """An operator holding the audit permission (until OPERATOR_PERMISSIONS grants it)."""
    operator.user_permissions.add(
        Permission.objects.get(content_type__app_label="audit", codename="view_securityevent")
    )
    return operator


@pytest.fixture
def reader_client(audit_reader):
    from rest_framework.test import APIClient

    client = APIClient()
    client.force_authenticate(audit_reader)
    return client


def _raw_detail_texts() -> list[str]:
    with connection.cursor() as cursor:
        cursor.execute("SELECT detail::text FROM audit_securityevent")
        return [row[0] for row in cursor.fetchall()]


# --- Sign-in signals -----------------------------------------------------------------


def test_admin_login_logout_and_failed_login_are_recorded(operator):
    password = "ops-Password-1"
    wrong = "Wr0ng-Guess-9-secret"
    client = Client(HTTP_USER_AGENT=BROWSER, HTTP_X_FORWARDED_FOR="203.0.113.7:5555, 10.0.0.1")

    client.post("/admin/login/", {"username": "ops", "password": wrong})
    response = client.post("/admin/login/", {"username": "ops", "password": password})
    assert response.status_code == 302
    client.post("/admin/logout/")

    events = list(SecurityEvent.objects.order_by("id"))
    assert [e.action for e in events] == [
        SecurityAction.LOGIN_FAILED,
        SecurityAction.LOGIN_SUCCEEDED,
        SecurityAction.LOGOUT,
    ]
    for event in events:
        assert event.ip == "203.0.113.7"
        assert event.user_agent == BROWSER
    failed, succeeded, logged_out = events
    assert failed.actor is None
    assert failed.detail == {"attempted_username": "ops"}
    assert succeeded.actor == operator and succeeded.actor_username == "ops"
    assert logged_out.actor == operator

    raw = " ".join(_raw_detail_texts())
    assert wrong not in raw and password not in raw


def test_ip_without_proxy_is_remote_addr_and_garbage_is_dropped(operator):
    Client(REMOTE_ADDR="198.51.100.4").post(
        "/admin/login/", {"username": "ops", "password": "nope"}
    )
    Client(HTTP_X_FORWARDED_FOR="not-an-address").post(
        "/admin/login/", {"username": "nobody", "password": "nope"}
    )
    first, second = SecurityEvent.objects.order_by("id")
    assert first.ip == "198.51.100.4"
    assert second.ip is None and second.detail == {"attempted_username": "nobody"}


def test_actor_username_survives_user_deletion(make_user):
    user = make_user("leaver")
    event = record_event(SecurityAction.TOKEN_CREATED, actor=user)
    user.delete()
    event.refresh_from_db()
    assert event.actor is None and event.actor_username == "leaver"


# --- The hook: targets and masking -------------------------------------------------------


def test_record_event_names_the_target_and_masks_nested_secrets(operator, analyst):
    detail = {
        "exchange": "binance",
        "key_last_four": "WXYZ",
        "api_key": "AKIA-FULL-KEY-1234",
        "credentials": {
            "api_secret": "s3cr3t-value",
            "Password": "hunter2-pass",
            "nested": [{"access_token": "tok-abc"}, {"label": "kept"}],
        },
        "private_key": "pk-value",
        "role": "analyst",
    }
    event = record_event(
        SecurityAction.CREDENTIAL_STORED, actor=operator, target=analyst, detail=detail
    )

    event.refresh_from_db()
    assert (event.target_type, event.target_id, event.target_repr) == (
        "auth.user",
        str(analyst.pk),
        "ana",
    )
    assert event.detail == {
        "exchange": "binance",
        "key_last_four": "WXYZ",
        "api_key": "***",
        "credentials": {
            "api_secret": "***",
            "Password": "***",
            "nested": [{"access_token": "***"}, {"label": "kept"}],
        },
        "private_key": "***",
        "role": "analyst",
    }
    raw = _raw_detail_texts()[0]
    for secret in ("AKIA-FULL-KEY-1234", "s3cr3t-value", "hunter2-pass", "tok-abc", "pk-value"):
        assert secret not in raw
    assert detail["api_key"] == "AKIA-FULL-KEY-1234"  # the caller's dict is left alone


def test_unknown_action_is_refused():
    with pytest.raises(ValueError):
        record_event("made_up")
    assert not SecurityEvent.objects.exists()


# --- API ---------------------------------------------------------------------------------


def _event(action, *, actor=None, target_type="", target_id="", age_days=0):
    event = SecurityEvent.objects.create(
        action=action,
        actor=actor,
        actor_username=actor.username if actor else "",
        target_type=target_type,
        target_id=target_id,
    )
    if age_days:
        SecurityEvent.objects.filter(pk=event.pk).update(
            created_at=timezone.now() - timedelta(days=age_days)
        )
    return event


def test_operator_lists_events_newest_first_with_filters(reader_client, analyst, operator):
    old = _event(SecurityAction.LOGIN_SUCCEEDED, actor=analyst, age_days=3)
    launch = _event(
        SecurityAction.BACKTEST_LAUNCHED,
        actor=analyst,
        target_type="backtest.backtest",
        target_id="42",
    )
    failed = _event(SecurityAction.LOGIN_FAILED)
    cancel = _event(
        SecurityAction.BACKTEST_CANCELLED,
        actor=operator,
        target_type="backtest.backtest",
        target_id="42",
    )

    def ids(query: str = "") -> list[int]:
        response = reader_client.get(f"{EVENTS_URL}{query}")
        assert response.status_code == 200, response.content
        return [row["id"] for row in response.json()["results"]]

    assert ids() == [cancel.pk, failed.pk, launch.pk, old.pk]
    assert ids("?actor=ana") == [launch.pk, old.pk]
    assert ids("?action=login_failed&action=login_succeeded") == [failed.pk, old.pk]
    assert ids("?target_type=backtest.backtest&target_id=42") == [cancel.pk, launch.pk]
    assert ids("?target_id=7") == []
    two_days_ago = (timezone.now() - timedelta(days=2)).isoformat()
    assert ids(f"?created_before={two_days_ago.replace('+', '%2B')}") == [old.pk]
    assert old.pk not in ids(f"?created_after={two_days_ago.replace('+', '%2B')}")

    body = reader_client.get(EVENTS_URL).json()
    assert body["count"] == 4
    row = body["results"][0]
    assert row["action"] == "backtest_cancelled"
    assert row["actor"] == operator.pk and row["actor_username"] == "ops"
    assert set(row) == {
        "id",
        "created_at",
        "action",
        "actor",
        "actor_username",
        "target_type",
        "target_id",
        "target_repr",
        "ip",
        "user_agent",
        "detail",
    }


def test_invalid_action_filter_is_a_400(reader_client):
    response = reader_client.get(f"{EVENTS_URL}?action=bogus")
    assert response.status_code == 400
    assert "action" in response.json()


def test_analyst_and_viewer_get_403(analyst_client, viewer_client):
    _event(SecurityAction.LOGIN_FAILED)
    response = analyst_client.get(EVENTS_URL)
    assert response.status_code == 403
    assert "audit.view_securityevent" in response.json()["detail"]
    assert viewer_client.get(EVENTS_URL).status_code == 403


def test_anonymous_gets_401(anon_client):
    assert anon_client.get(EVENTS_URL).status_code == 401


def test_list_query_count_does_not_grow_with_events(
    reader_client, make_user, django_assert_max_num_queries
):
    users = [make_user(f"user{i}") for i in range(3)]
    for user in users:
        _event(SecurityAction.LOGIN_SUCCEEDED, actor=user)
    with django_assert_max_num_queries(10) as few:
        assert reader_client.get(EVENTS_URL).status_code == 200
    baseline = len(few.captured_queries)

    for i in range(30):
        _event(SecurityAction.TOKEN_CREATED, actor=make_user(f"more{i}"))
    with django_assert_max_num_queries(baseline):
        response = reader_client.get(EVENTS_URL)
    assert response.json()["count"] == 33


def test_events_endpoint_is_in_the_openapi_schema(reader_client):
    response = reader_client.get("/api/schema/", HTTP_ACCEPT="application/vnd.oai.openapi+json")
    assert response.status_code == 200
    schema = json.loads(response.content)
    operation = schema["paths"]["/api/audit/events/"]["get"]
    parameters = {p["name"] for p in operation["parameters"]}
    assert {
        "actor",
        "action",
        "target_type",
        "target_id",
        "created_after",
        "created_before",
        "page",
    } <= parameters
    assert {"200", "401", "403"} <= set(operation["responses"])


def test_reverse_name():
    assert reverse("audit-event-list") == EVENTS_URL


# --- Admin -------------------------------------------------------------------------------


def test_admin_lists_read_only_events(audit_reader, analyst):
    event = record_event(
        SecurityAction.SHARE_GRANTED,
        actor=audit_reader,
        target=analyst,
        detail={"token": "t0k3n-value", "permission": "view"},
    )
    client = Client()
    client.force_login(audit_reader)
    listing = client.get("/admin/audit/securityevent/?action__exact=share_granted&q=ops")
    assert listing.status_code == 200
    assert b"share_granted" in listing.content or b"share granted" in listing.content
    detail_page = client.get(f"/admin/audit/securityevent/{event.pk}/change/")
    assert detail_page.status_code == 200
    assert b"t0k3n-value" not in detail_page.content
    assert client.get("/admin/audit/securityevent/add/").status_code == 403
    assert client.post(f"/admin/audit/securityevent/{event.pk}/delete/").status_code == 403


# --- Retention ---------------------------------------------------------------------------


def _log_entry(age_days: int, obj) -> LogEntry:
    entry = LogEntry.objects.log_create(obj, action=LogEntry.Action.UPDATE, changes={"x": [1, 2]})
    LogEntry.objects.filter(pk=entry.pk).update(timestamp=timezone.now() - timedelta(days=age_days))
    return entry


def _purge(*args: str) -> str:
    out = StringIO()
    call_command("purge_audit", *args, stdout=out)
    return out.getvalue()


def test_purge_deletes_only_old_rows_of_both_tables(analyst):
    old_events = [_event(SecurityAction.LOGOUT, age_days=40) for _ in range(3)]
    recent_event = _event(SecurityAction.LOGOUT, age_days=10)
    LogEntry.objects.all().delete()  # the user's creation was logged just now
    old_entries = [_log_entry(40, analyst) for _ in range(2)]
    recent_entry = _log_entry(10, analyst)

    output = _purge("--older-than-days", "30", "--batch-size", "2")

    assert "deleted 3 security events" in output
    assert "deleted 2 change log entries" in output
    assert list(SecurityEvent.objects.values_list("pk", flat=True)) == [recent_event.pk]
    assert list(LogEntry.objects.values_list("pk", flat=True)) == [recent_entry.pk]
    assert not SecurityEvent.objects.filter(pk__in=[e.pk for e in old_events]).exists()
    assert not LogEntry.objects.filter(pk__in=[e.pk for e in old_entries]).exists()


def test_purge_dry_run_deletes_nothing(analyst):
    _event(SecurityAction.LOGOUT, age_days=40)
    LogEntry.objects.all().delete()
    _log_entry(40, analyst)

    output = _purge("--older-than-days", "30", "--dry-run")

    assert "would delete 1 security events" in output
    assert "would delete 1 change log entries" in output
    assert SecurityEvent.objects.count() == 1 and LogEntry.objects.count() == 1


def test_purge_default_age_comes_from_the_setting(settings, analyst):
    settings.AUDIT_RETENTION_DAYS = 5
    _event(SecurityAction.LOGOUT, age_days=6)
    kept = _event(SecurityAction.LOGOUT, age_days=4)
    _purge()
    assert list(SecurityEvent.objects.values_list("pk", flat=True)) == [kept.pk]


def test_purge_refuses_a_non_positive_age():
    from django.core.management.base import CommandError

    with pytest.raises(CommandError, match="at least 1"):
        _purge("--older-than-days", "0")
