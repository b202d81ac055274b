"""Named API tokens: created with a key shown once and stored hashed, listed and revoked
by their owner only, accepted as `Authorization: Token <key>` next to DRF's own tokens,
audited, and rate limited on creation."""

from __future__ import annotations

import hashlib
from io import StringIO

import pytest
from django.core.management import call_command
from django.db import connection
from rest_framework.authtoken.models import Token
from rest_framework.test import APIClient

from accounts import tokens
from accounts.models import ApiToken
from audit.models import SecurityAction, SecurityEvent

pytestmark = pytest.mark.django_db

LIST_URL = "/api/tokens/"
# Any authenticated endpoint will do to try a token.
PROBE_URL = "/api/credentials/"


def detail_url(pk: int) -> str:
    return f"/api/tokens/{pk}/"


def client_with(key: str) -> APIClient:
    client = APIClient()
    client.credentials(HTTP_AUTHORIZATION=f"Token {key}")
    return client


# --- Creation ----------------------------------------------------------------------


def test_create_shows_the_key_once_and_stores_only_its_hash(analyst, analyst_client):
    response = analyst_client.post(LIST_URL, {"name": "ci"}, format="json")

    assert response.status_code == 201, response.content
    body = response.json()
    assert set(body) == {"id", "name", "prefix", "created_at", "last_used_at", "key"}
    key = body["key"]
    assert key.startswith("ct_") and len(key) >= 40
    assert body["prefix"] == key[:8]
    assert body["name"] == "ci" and body["last_used_at"] is None

    with connection.cursor() as cursor:
        cursor.execute("SELECT * FROM accounts_apitoken WHERE id = %s", [body["id"]])
        row = " ".join(str(value) for value in cursor.fetchone())
    assert key not in row and key[8:20] not in row
    assert ApiToken.objects.get(pk=body["id"]).key_hash == hashlib.sha256(key.encode()).hexdigest()

    listed = analyst_client.get(LIST_URL)
    assert listed.status_code == 200
    assert key not in listed.content.decode()
    assert [row["name"] for row in listed.json()["results"]] == ["ci"]
    assert "key" not in listed.json()["results"][0]


def test_creation_is_audited_without_the_key(analyst, analyst_client):
    response = analyst_client.post(
        LIST_URL, {"name": "ci"}, format="json", HTTP_USER_AGENT="pytest-agent"
    )
    key = response.json()["key"]

    event = SecurityEvent.objects.get(action=SecurityAction.TOKEN_CREATED)
    assert event.actor == analyst
    assert event.target_type == "accounts.apitoken"
    assert event.target_id == str(response.json()["id"])
    assert event.detail == {"name": "ci", "prefix": key[:8]}
    assert event.user_agent == "pytest-agent"
    stored = str(event.detail) + event.target_repr
    assert key not in stored and key[8:] not in stored


@pytest.mark.parametrize(
    ("name", "message"),
    [
        ("", "name is required"),
        ("   ", "name is required"),
        ("x" * 101, "name must be at most 100 characters"),
    ],
)
def test_a_bad_name_is_a_400(analyst_client, name, message):
    response = analyst_client.post(LIST_URL, {"name": name}, format="json")

    assert response.status_code == 400
    assert response.json() == {"name": [message]}
    assert not ApiToken.objects.exists()


def test_a_name_is_unique_among_your_working_tokens(analyst, viewer, analyst_client):
    tokens.create_token(analyst, "ci")
    tokens.create_token(viewer, "ci")

    response = analyst_client.post(LIST_URL, {"name": "ci"}, format="json")
    assert response.status_code == 400
    assert response.json() == {"name": ["you already have a token with this name"]}

    revoked, _ = tokens.create_token(analyst, "old")
    tokens.revoke_token(revoked, actor=analyst)
    assert analyst_client.post(LIST_URL, {"name": "old"}, format="json").status_code == 201


def test_token_creation_is_rate_limited(analyst_client, settings):
    settings.REST_FRAMEWORK = {
        **settings.REST_FRAMEWORK,
        "DEFAULT_THROTTLE_RATES": {"tokens": "3/min"},
    }

    codes = [
        analyst_client.post(LIST_URL, {"name": f"t{i}"}, format="json").status_code
        for i in range(4)
    ]

    assert codes == [201, 201, 201, 429]
    refused = analyst_client.post(LIST_URL, {"name": "t9"}, format="json")
    assert refused.status_code == 429 and "Retry-After" in refused.headers
    # Listing is not creation: it stays available.
    assert analyst_client.get(LIST_URL).status_code == 200
    assert ApiToken.objects.count() == 3


def test_the_tokens_rate_has_a_default_when_not_configured(analyst_client, settings):
    rates = dict(settings.REST_FRAMEWORK.get("DEFAULT_THROTTLE_RATES") or {})
    rates.pop("tokens", None)
    settings.REST_FRAMEWORK = {**settings.REST_FRAMEWORK, "DEFAULT_THROTTLE_RATES": rates}

    codes = [
        analyst_client.post(LIST_URL, {"name": f"t{i}"}, format="json").status_code
        for i in range(21)
    ]

    assert codes == [201] * 20 + [429]


# --- Listing and revoking ------------------------------------------------------------


def test_list_shows_only_your_working_tokens(analyst, viewer, analyst_client, operator_client):
    first, _ = tokens.create_token(analyst, "first")
    second, _ = tokens.create_token(analyst, "second")
    gone, _ = tokens.create_token(analyst, "gone")
    tokens.revoke_token(gone, actor=analyst)
    tokens.create_token(viewer, "theirs")

    response = analyst_client.get(LIST_URL)

    assert response.status_code == 200
    assert [row["id"] for row in response.json()["results"]] == [second.pk, first.pk]
    assert operator_client.get(LIST_URL).json()["results"] == []


def test_revoke_own_answers_204_and_another_users_404(
    analyst, analyst_client, viewer_client, operator_client
):
    token, key = tokens.create_token(analyst, "ci")
    assert client_with(key).get(PROBE_URL).status_code == 200

    for other in (viewer_client, operator_client):
        assert other.delete(detail_url(token.pk)).status_code == 404
    token.refresh_from_db()
    assert token.revoked_at is None

    assert analyst_client.delete(detail_url(token.pk)).status_code == 204
    token.refresh_from_db()
    assert token.revoked_at is not None
    assert client_with(key).get(PROBE_URL).status_code == 401
    assert analyst_client.delete(detail_url(token.pk)).status_code == 404

    event = SecurityEvent.objects.get(action=SecurityAction.TOKEN_REVOKED)
    assert event.actor == analyst and event.target_id == str(token.pk)
    assert event.detail == {"name": "ci", "prefix": key[:8], "owner": analyst.pk}
    assert key not in str(event.detail)


def test_a_token_can_revoke_itself(analyst):
    token, key = tokens.create_token(analyst, "ci")
    client = client_with(key)

    assert client.delete(detail_url(token.pk)).status_code == 204
    assert client.get(PROBE_URL).status_code == 401


def test_unauthenticated_requests_answer_401(analyst, anon_client):
    token, _ = tokens.create_token(analyst, "ci")

    assert anon_client.get(LIST_URL).status_code == 401
    assert anon_client.post(LIST_URL, {"name": "x"}, format="json").status_code == 401
    assert anon_client.delete(detail_url(token.pk)).status_code == 401
    assert ApiToken.objects.filter(pk=token.pk, revoked_at__isnull=True).exists()


# --- Authentication ------------------------------------------------------------------


def test_an_api_token_authenticates_as_its_owner_and_notes_its_use(analyst):
    token, key = tokens.create_token(analyst, "ci")

    response = client_with(key).get(LIST_URL)

    assert response.status_code == 200
    assert [row["id"] for row in response.json()["results"]] == [token.pk]
    token.refresh_from_db()
    assert token.last_used_at is not None


def test_an_api_token_creates_audited_as_its_owner(analyst):
    _, key = tokens.create_token(analyst, "ci")

    response = client_with(key).post(LIST_URL, {"name": "from-a-script"}, format="json")

    assert response.status_code == 201
    event = SecurityEvent.objects.get(
        action=SecurityAction.TOKEN_CREATED, target_id=str(response.json()["id"])
    )
    assert event.actor == analyst


@pytest.mark.parametrize(
    "key",
    ["ct_not-a-real-key", "ct_", "0123456789abcdef0123456789abcdef01234567", "x" * 60],
)
def test_an_unknown_key_answers_401(analyst, key):
    tokens.create_token(analyst, "ci")

    response = client_with(key).get(PROBE_URL)

    assert response.status_code == 401
    assert response.json() == {"detail": "Invalid token."}
    assert response.headers["WWW-Authenticate"] == "Token"


def test_an_inactive_owners_token_answers_401(analyst):
    _, key = tokens.create_token(analyst, "ci")
    analyst.is_active = False
    analyst.save(update_fields=["is_active"])

    response = client_with(key).get(PROBE_URL)

    assert response.status_code == 401
    assert response.json() == {"detail": "User inactive or deleted."}


def test_drf_create_token_still_works(analyst):
    out = StringIO()
    call_command("drf_create_token", analyst.username, stdout=out)
    key = Token.objects.get(user=analyst).key
    assert key in out.getvalue()

    assert client_with(key).get(PROBE_URL).status_code == 200
    assert client_with(key).get(LIST_URL).json()["results"] == []


def test_api_tokens_do_not_disturb_drf_tokens(analyst, viewer):
    drf_key = Token.objects.create(user=viewer).key
    _, api_key = tokens.create_token(analyst, "ci")

    assert client_with(drf_key).post(LIST_URL, {"name": "v"}, format="json").status_code == 201
    assert ApiToken.objects.get(name="v").owner == viewer
    assert client_with(api_key).get(LIST_URL).json()["results"][0]["name"] == "ci"
