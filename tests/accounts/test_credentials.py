"""The exchange-credential vault on real PostgreSQL: encrypted at rest, never shown,
never logged, only ever its owner's, and re-encrypted by the rotation command."""

from __future__ import annotations

import logging
import os

import pytest
from django.conf import settings
from django.core.management import CommandError, call_command
from django.db import connection
from django.test import override_settings

from accounts import credentials
from accounts.models import ExchangeCredential
from audit.models import SecurityAction, SecurityEvent

pytestmark = pytest.mark.django_db

API_KEY = "vmPUZE6mv9SD5VNHk4HlWFsOr6aKE2zvsw0MuIgwCIPy6utIco14y7Ju91duEh8A"
API_SECRET = "NhqPtmdSJYdKjVHjA7PZj4Mge3R5YNiP1e3UZjInClVN65XAbvqqM6A7H5fATj0j"
LIST_URL = "/api/credentials/"


def detail_url(pk: int) -> str:
    return f"/api/credentials/{pk}/"


def store(owner, label: str = "main", api_key: str = API_KEY, api_secret: str = API_SECRET):
    return credentials.store_credential(
        owner, exchange="binance", label=label, api_key=api_key, api_secret=api_secret
    )


def raw_columns(pk: int) -> tuple[bytes, bytes]:
    with connection.cursor() as cursor:
        cursor.execute(
            "SELECT api_key, api_secret FROM accounts_exchangecredential WHERE id = %s", [pk]
        )
        key, secret = cursor.fetchone()
    return bytes(key), bytes(secret)


# --- At rest ---------------------------------------------------------------------------


def test_the_database_columns_hold_no_plaintext(analyst):
    credential = store(analyst)

    stored = b"".join(raw_columns(credential.pk))
    for clear in (API_KEY, API_SECRET):
        assert clear.encode() not in stored
        assert clear[:16].encode() not in stored
    assert credential.key_last_four == API_KEY[-4:]


def test_decrypted_round_trips_and_records_the_use(analyst):
    credential = store(analyst)
    assert credential.last_used_at is None

    pair = credentials.decrypted(credential, purpose="sync balances")

    assert (pair.api_key, pair.api_secret) == (API_KEY, API_SECRET)
    assert API_SECRET not in repr(pair) and API_KEY not in repr(pair)
    credential.refresh_from_db()
    assert credential.last_used_at is not None
    event = SecurityEvent.objects.get(action=SecurityAction.CREDENTIAL_USED)
    assert event.target_id == str(credential.pk)
    assert event.detail == {"purpose": "sync balances"}


def test_our_key_derivation_is_django_cryptographys():
    configured = os.environ.get("FIELD_ENCRYPTION_KEY") or None
    assert credentials.derive_key(configured) == settings.CRYPTOGRAPHY_KEY


# --- API -------------------------------------------------------------------------------


def test_create_answers_201_without_the_key_or_secret(analyst, analyst_client):
    response = analyst_client.post(
        LIST_URL,
        {"exchange": "binance", "label": "main", "api_key": API_KEY, "api_secret": API_SECRET},
        format="json",
    )

    assert response.status_code == 201, response.content
    body = response.json()
    assert set(body) == {
        "id",
        "exchange",
        "label",
        "key_last_four",
        "created_at",
        "last_used_at",
        "check_status",
        "check_detail",
        "checked_at",
    }
    assert (body["check_status"], body["check_detail"], body["checked_at"]) == ("", "", None)
    assert body["key_last_four"] == API_KEY[-4:]
    assert body["last_used_at"] is None
    text = response.content.decode()
    assert API_KEY not in text and API_SECRET not in text
    assert SecurityEvent.objects.filter(
        action=SecurityAction.CREDENTIAL_STORED, actor=analyst, target_id=str(body["id"])
    ).exists()


def test_list_shows_only_your_own_and_never_the_key_or_secret(
    analyst, analyst_client, viewer_client, operator_client
):
    store(analyst, "main")
    store(analyst, "testnet")

    response = analyst_client.get(LIST_URL)

    assert response.status_code == 200
    assert [row["label"] for row in response.json()["results"]] == ["main", "testnet"]
    text = response.content.decode()
    assert API_KEY not in text and API_SECRET not in text
    for other in (viewer_client, operator_client):
        response = other.get(LIST_URL)
        assert response.status_code == 200
        assert response.json()["results"] == []


def test_delete_own_answers_204_and_another_users_404(
    analyst, analyst_client, viewer_client, operator_client
):
    credential = store(analyst)

    for other in (viewer_client, operator_client):
        assert other.delete(detail_url(credential.pk)).status_code == 404
    assert ExchangeCredential.objects.filter(pk=credential.pk).exists()

    assert analyst_client.delete(detail_url(credential.pk)).status_code == 204
    assert not ExchangeCredential.objects.filter(pk=credential.pk).exists()
    assert SecurityEvent.objects.filter(
        action=SecurityAction.CREDENTIAL_DELETED, target_id=str(credential.pk)
    ).exists()
    assert analyst_client.delete(detail_url(credential.pk)).status_code == 404


def test_unauthenticated_requests_answer_401(analyst, anon_client):
    credential = store(analyst)

    assert anon_client.get(LIST_URL).status_code == 401
    assert anon_client.post(LIST_URL, {}, format="json").status_code == 401
    assert anon_client.delete(detail_url(credential.pk)).status_code == 401
    assert ExchangeCredential.objects.filter(pk=credential.pk).exists()


def test_refused_input_names_the_field_and_never_echoes_secrets(analyst_client, caplog):
    long_key = "K" * 120 + "LeakyKeyTail"
    long_secret = "S" * 300 + "LeakySecretTail"

    with caplog.at_level(logging.DEBUG):
        response = analyst_client.post(
            LIST_URL,
            {
                "exchange": "binance",
                "label": "main",
                "api_key": long_key,
                "api_secret": long_secret,
            },
            format="json",
        )

    assert response.status_code == 400
    assert response.json() == {
        "api_key": ["api_key must be at most 128 characters"],
        "api_secret": ["api_secret must be at most 256 characters"],
    }
    text = response.content.decode()
    assert "Leaky" not in text
    assert "Leaky" not in caplog.text
    assert not ExchangeCredential.objects.exists()


@pytest.mark.parametrize(
    ("field", "value", "message"),
    [
        ("api_key", "short", "api_key must be at least 8 characters"),
        ("api_secret", "has a space in it", "api_secret must not contain spaces"),
        ("api_key", "", "api_key is required"),
        ("label", "  ", "label is required"),
    ],
)
def test_each_bad_field_is_named(analyst_client, field, value, message):
    data = {"exchange": "binance", "label": "main", "api_key": API_KEY, "api_secret": API_SECRET}
    data[field] = value

    response = analyst_client.post(LIST_URL, data, format="json")

    assert response.status_code == 400
    assert list(response.json()) == [field]
    assert response.json()[field][0].startswith(message)
    if field in ("api_key", "api_secret") and value:
        assert value not in response.content.decode()


def test_a_label_is_unique_per_owner(analyst, viewer, analyst_client):
    store(analyst, "main")
    store(viewer, "main")

    response = analyst_client.post(
        LIST_URL,
        {"exchange": "binance", "label": "main", "api_key": API_KEY, "api_secret": API_SECRET},
        format="json",
    )

    assert response.status_code == 400
    assert response.json() == {"label": ["you already have a credential with this label"]}


def test_the_admin_lists_credentials_without_key_or_secret(analyst, admin_client):
    credential = store(analyst)

    listing = admin_client.get("/admin/accounts/exchangecredential/")
    page = admin_client.get(f"/admin/accounts/exchangecredential/{credential.pk}/change/")

    assert listing.status_code == 200 and page.status_code == 200
    for response in (listing, page):
        text = response.content.decode()
        assert API_KEY[-4:] in text
        assert API_KEY not in text and API_SECRET not in text
        assert 'name="api_key"' not in text and 'name="api_secret"' not in text


# --- Key rotation ----------------------------------------------------------------------

OLD_KEY = "old-field-encryption-key"
NEW_KEY = "new-field-encryption-key"


def under(configured_key: str):
    """Settings as a process started with FIELD_ENCRYPTION_KEY=configured_key has them."""
    return override_settings(CRYPTOGRAPHY_KEY=credentials.derive_key(configured_key))


def test_rotation_re_encrypts_every_row_with_the_new_key(analyst, viewer):
    with under(OLD_KEY):
        first = store(analyst, "main")
        second = store(viewer, "other", api_key="A" * 60 + "B0B0", api_secret="C" * 64)
        before = raw_columns(first.pk)

    with under(NEW_KEY):
        call_command("rotate_credentials_key", old_key=OLD_KEY, stdout=(out := _Output()))
        assert "Re-encrypted 2 credential(s); 0 already under the current key." in out.text
        assert API_KEY not in out.text and API_SECRET not in out.text
        assert raw_columns(first.pk) != before
        assert credentials.decrypted(first, "test").api_secret == API_SECRET
        assert credentials.decrypted(second, "test").api_key == "A" * 60 + "B0B0"

        # A second run finds nothing left to do.
        call_command("rotate_credentials_key", old_key=OLD_KEY, stdout=(out := _Output()))
        assert "Re-encrypted 0 credential(s); 2 already under the current key." in out.text

    # A wrong key mostly fails at the padding, rarely later at unpickling: any error will do.
    with under(OLD_KEY), pytest.raises(Exception):  # noqa: B017
        credentials.decrypted(first, "test")


def test_rotation_reads_the_old_key_from_the_environment(analyst, monkeypatch):
    with under(OLD_KEY):
        credential = store(analyst)
    monkeypatch.setenv("FIELD_ENCRYPTION_KEY_OLD", OLD_KEY)

    with under(NEW_KEY):
        call_command("rotate_credentials_key", stdout=_Output())
        assert credentials.decrypted(credential, "test").api_key == API_KEY


def test_rotation_is_all_or_nothing(analyst, viewer):
    with under(OLD_KEY):
        rotatable = store(analyst, "main")
    with under("some-third-key"):
        stray = store(viewer, "stray")
    before = raw_columns(rotatable.pk)

    with under(NEW_KEY), pytest.raises(CommandError, match=f"credential #{stray.pk}"):
        call_command("rotate_credentials_key", old_key=OLD_KEY, stdout=_Output())

    assert raw_columns(rotatable.pk) == before


def test_rotation_needs_the_old_key(monkeypatch):
    monkeypatch.delenv("FIELD_ENCRYPTION_KEY_OLD", raising=False)
    with pytest.raises(CommandError, match="old key"):
        call_command("rotate_credentials_key", stdout=_Output())


class _Output:
    def __init__(self) -> None:
        self.text = ""

    def write(self, text: str) -> None:
        self.text += text

    def flush(self) -> None:
        pass
