"""Checking a stored exchange credential with Binance: the signed client against the fake
Binance, the check in-process, and through the API with a real Celery worker.

Whatever the outcome, the key and the secret appear in no response, security event,
check detail or log line, and each check decrypts the credential exactly once, audited.
"""

from __future__ import annotations

import hashlib
import hmac
import json
import logging
import os
import re
import time
from dataclasses import dataclass, field
from decimal import Decimal
from pathlib import Path

import pytest

from accounts import credential_check, credentials
from accounts.binance_signed import (
    BinanceRateLimited,
    BinanceSignedClient,
    KeyRejected,
    sign,
    signed_query,
)
from accounts.credential_check import CHECK_PURPOSE, CHECK_QUEUE
from accounts.models import CheckStatus, ExchangeCredential
from audit.models import SecurityAction, SecurityEvent
from marketdata.binance_client import BinanceRejected, BinanceUnavailable
from tests.conftest import BASE_DIR
from tests.fakes.fake_binance import FakeBinance, RecordedRequest

# Binance's documented HMAC example ("SIGNED endpoint examples for POST /api/v3/order").
DOC_API_KEY = "vmPUZE6mv9SD5VNHk4HlWFsOr6aKE2zvsw0MuIgwCIPy6utIco14y7Ju91duEh8A"
DOC_SECRET = "NhqPtmdSJYdKjVHjA7PZj4Mge3R5YNiP1e3UZjInClVN65XAbvqqM6A7H5fATj0j"
DOC_QUERY = (
    "symbol=LTCBTC&side=BUY&type=LIMIT&timeInForce=GTC&quantity=1&price=0.1"
    "&recvWindow=5000&timestamp=1499827319559"
)
DOC_SIGNATURE = "c8db56825ae71d6d79447849e617115f4a920fa2acdcab2b053c4b2838bd6b71"

API_KEY = DOC_API_KEY
API_SECRET = DOC_SECRET
OTHER_SECRET = "q8gkRKW2cd6V1CnQmRQBLtPZxwYMNHpHFhJf0E3Sk2UOoXr7ecDAgT5bsjzNv9ya"
CHECK_FAILURE_WAIT_SECONDS = 30


def check_url(pk: int) -> str:
    return f"/api/credentials/{pk}/check/"


def detail_url(pk: int) -> str:
    return f"/api/credentials/{pk}/"


def store(owner, *, exchange: str = "binance", label: str = "main") -> ExchangeCredential:
    return credentials.store_credential(
        owner, exchange=exchange, label=label, api_key=API_KEY, api_secret=API_SECRET
    )


def signed_by_our_secret(request: RecordedRequest) -> bool:
    """The request carries our key, and its last parameter is our secret's HMAC of the
    query before it (computed here, independently of the client and the fake)."""
    payload, _, signature = request.query_string.rpartition("&signature=")
    expected = hmac.new(API_SECRET.encode(), payload.encode(), hashlib.sha256).hexdigest()
    return request.api_key == API_KEY and hmac.compare_digest(signature, expected)


def assert_no_secrets(*texts: str) -> None:
    for text in texts:
        assert API_KEY not in text
        assert API_SECRET not in text
        assert API_SECRET[:16] not in text


def security_events_text() -> str:
    return json.dumps(list(SecurityEvent.objects.values()), default=str)


# --- Scenarios: what the exchange does, and what the check must conclude ---------------


@dataclass(frozen=True)
class Scenario:
    name: str
    status: str
    detail_has: tuple[str, ...]
    account_secret: str | None = API_SECRET  # None: Binance does not know the key
    failure: str | None = None
    failure_options: dict = field(default_factory=dict)
    account_options: dict = field(default_factory=dict)

    def arrange(self, fake: FakeBinance) -> None:
        if self.account_secret is not None:
            fake.add_account(API_KEY, self.account_secret, **self.account_options)
        if self.failure:
            fake.fail_next(self.failure, **self.failure_options)

    def __str__(self) -> str:
        return self.name


VALID = Scenario(
    "valid key",
    CheckStatus.VALID,
    ("spot account; can trade, cannot withdraw, can deposit; permissions SPOT",),
)
SCENARIOS = [
    VALID,
    Scenario(
        "wrong secret",
        CheckStatus.REJECTED,
        (
            "Binance rejected the key: Signature for this request is not valid (-1022)",
            "the secret does not belong to this key",
        ),
        account_secret=OTHER_SECRET,
    ),
    Scenario(
        "unknown key",
        CheckStatus.REJECTED,
        (
            "Binance rejected the key: Invalid API-key, IP, or permissions for action (-2015)",
            "restricted to other IP addresses",
        ),
        account_secret=None,
    ),
    Scenario(
        "rate limited",
        CheckStatus.ERROR,
        ("Binance is limiting this server's requests (HTTP 429, code -1003)", "wait 30 s"),
        failure="rate_limited",
        failure_options={"retry_after": 30},
    ),
    Scenario(
        "IP banned",
        CheckStatus.ERROR,
        ("Binance has banned this server's IP address", "HTTP 418", "wait 120 s"),
        failure="banned",
        failure_options={"retry_after": 120},
    ),
    Scenario(
        "dropped connection",
        CheckStatus.ERROR,
        ("could not reach Binance for /v3/account, or it dropped the connection",),
        failure="disconnect",
    ),
    Scenario(
        "malformed answer",
        CheckStatus.ERROR,
        ("Binance's answer to /v3/account is not JSON",),
        failure="malformed",
    ),
]


def assert_checked_once(credential: ExchangeCredential, fake: FakeBinance, scenario: Scenario):
    """One audited decryption, one signed request with our key, and the outcome stored."""
    credential.refresh_from_db()
    assert credential.check_status == scenario.status, credential.check_detail
    for part in scenario.detail_has:
        assert part in credential.check_detail
    assert credential.checked_at is not None
    assert credential.last_used_at is not None
    used = SecurityEvent.objects.filter(action=SecurityAction.CREDENTIAL_USED)
    assert used.count() == 1
    event = used.get()
    assert event.detail == {"purpose": CHECK_PURPOSE}
    assert (event.actor, event.target_id) == (credential.owner, str(credential.pk))
    [request] = fake.account_requests()
    assert signed_by_our_secret(request)
    assert {"timestamp", "recvWindow", "signature"} <= set(request.params)
    if scenario.account_secret == API_SECRET:
        assert fake.has_valid_signature(request)
    assert_no_secrets(credential.check_detail, security_events_text())


# --- The signature -------------------------------------------------------------------------


def test_signature_is_binances_documented_example():
    assert sign(DOC_QUERY, DOC_SECRET) == DOC_SIGNATURE
    params = {
        "symbol": "LTCBTC",
        "side": "BUY",
        "type": "LIMIT",
        "timeInForce": "GTC",
        "quantity": 1,
        "price": "0.1",
        "recvWindow": 5000,
        "timestamp": 1499827319559,
    }
    assert signed_query(params, DOC_SECRET) == f"{DOC_QUERY}&signature={DOC_SIGNATURE}"


# --- The signed client, against the fake Binance --------------------------------------------


def client(fake: FakeBinance, secret: str = API_SECRET, **options) -> BinanceSignedClient:
    keys = credentials.ApiKeyPair(api_key=API_KEY, api_secret=secret)
    return BinanceSignedClient(keys, api_url=fake.api_url, **options)


def test_account_is_read_with_a_signed_request(fake_binance):
    fake_binance.add_account(
        API_KEY,
        API_SECRET,
        can_withdraw=True,
        permissions=("SPOT", "MARGIN"),
        balances={"BTC": ("0.5", "0"), "ETH": ("0", "0")},
    )

    with client(fake_binance) as binance:
        account = binance.account()

    assert (account.account_type, account.permissions) == ("SPOT", ("SPOT", "MARGIN"))
    assert (account.can_trade, account.can_withdraw, account.can_deposit) == (True, True, True)
    [request] = fake_binance.account_requests()
    assert request.api_key == API_KEY
    assert fake_binance.has_valid_signature(request)
    assert request.query_string.startswith("omitZeroBalances=true&recvWindow=5000&timestamp=")
    assert abs(int(request.params["timestamp"]) - time.time() * 1000) < 5000


def test_client_repr_shows_neither_key_nor_secret(fake_binance):
    text = repr(client(fake_binance))
    assert_no_secrets(text)
    assert API_KEY[-4:] in text


@pytest.mark.parametrize(
    ("secret", "registered", "code", "status"),
    [(OTHER_SECRET, True, -1022, 400), (API_SECRET, False, -2015, 401)],
    ids=["wrong secret", "unknown key"],
)
def test_refused_keys_raise_key_rejected_naming_binances_code(
    fake_binance, secret, registered, code, status
):
    if registered:
        fake_binance.add_account(API_KEY, API_SECRET)

    with pytest.raises(KeyRejected) as raised:
        client(fake_binance, secret=secret).account()

    assert (raised.value.code, raised.value.status_code) == (code, status)
    assert f"({code})" in str(raised.value)
    assert_no_secrets(str(raised.value), repr(raised.value))
    assert OTHER_SECRET not in str(raised.value)


def test_missing_key_is_refused_as_binance_does(fake_binance):
    keys = credentials.ApiKeyPair(api_key="", api_secret=API_SECRET)

    with pytest.raises(KeyRejected, match=r"API-key format invalid \(-2014\)"):
        BinanceSignedClient(keys, api_url=fake_binance.api_url).account()


def test_a_stale_timestamp_is_a_refused_request_not_a_refused_key(fake_binance):
    fake_binance.add_account(API_KEY, API_SECRET)

    with pytest.raises(BinanceRejected) as raised:
        client(fake_binance, clock=lambda: time.time() - 60).account()

    assert not isinstance(raised.value, KeyRejected)
    assert raised.value.code == -1021
    assert "outside of the recvWindow" in str(raised.value)


@pytest.mark.parametrize(
    ("kind", "status"), [("rate_limited", 429), ("banned", 418)], ids=["429", "418"]
)
def test_rate_limits_carry_binances_retry_after(fake_binance, kind, status):
    fake_binance.add_account(API_KEY, API_SECRET)
    fake_binance.fail_next(kind, retry_after=42)

    with pytest.raises(BinanceRateLimited) as raised:
        client(fake_binance).account()

    assert (raised.value.status_code, raised.value.code) == (status, -1003)
    assert raised.value.retry_after == 42
    assert isinstance(raised.value, BinanceUnavailable)


@pytest.mark.parametrize(
    ("kind", "message"),
    [
        ("server_error", "Binance failed on /v3/account (HTTP 500, code -1001)"),
        ("malformed", "is not JSON"),
        ("truncated", "the connection to Binance broke during /v3/account"),
        ("disconnect", "dropped the connection"),
        ("bad_shape", "is malformed: expected an object, got list"),
    ],
)
def test_unavailable_binance_is_reported_without_the_request(fake_binance, kind, message):
    fake_binance.add_account(API_KEY, API_SECRET)
    fake_binance.fail_next(kind)

    with pytest.raises(BinanceUnavailable, match=re.escape(message)) as raised:
        client(fake_binance).account()

    assert "signature" not in str(raised.value)
    # No chained exception either: requests' own text holds the signed URL.
    error = raised.value
    assert error.__cause__ is None and (error.__context__ is None or error.__suppress_context__)


def test_my_trades_pages_from_a_trade_id_in_decimals(fake_binance):
    fake_binance.add_account(API_KEY, API_SECRET)
    fake_binance.add_trades(
        API_KEY,
        [
            {
                "symbol": "BTCUSDT",
                "id": trade_id,
                "orderId": 100 + trade_id,
                "orderListId": -1,
                "price": "42000.10000000",
                "qty": "0.00150000",
                "quoteQty": "63.00015000",
                "commission": "0.00000150",
                "commissionAsset": "BTC",
                "time": 1_700_000_000_000 + trade_id,
                "isBuyer": trade_id % 2 == 0,
                "isMaker": False,
                "isBestMatch": True,
            }
            for trade_id in range(1, 6)
        ],
    )

    with client(fake_binance) as binance:
        trades = binance.my_trades("BTCUSDT", from_id=3, limit=2)

    assert [trade.id for trade in trades] == [3, 4]
    assert trades[0].price == Decimal("42000.1") and trades[0].qty == Decimal("0.0015")
    assert (trades[0].is_buyer, trades[1].is_buyer) == (False, True)
    [request] = [r for r in fake_binance.requests if r.path == "/api/v3/myTrades"]
    assert request.query_string.startswith("symbol=BTCUSDT&fromId=3&limit=2&recvWindow=")
    assert fake_binance.has_valid_signature(request)


# --- The check, in-process ------------------------------------------------------------------


@pytest.mark.django_db
@pytest.mark.parametrize("scenario", SCENARIOS, ids=str)
def test_check_stores_the_outcome_and_logs_no_secret(fake_binance, analyst, caplog, scenario):
    caplog.set_level(logging.DEBUG)
    scenario.arrange(fake_binance)
    credential = store(analyst)

    result = credential_check.check_credential(credential.pk)

    assert result == {"id": credential.pk, "check_status": scenario.status}
    assert_checked_once(credential, fake_binance, scenario)
    assert caplog.records, "nothing was logged: the log assertion would prove nothing"
    assert_no_secrets(caplog.text, *(str(record.__dict__) for record in caplog.records))


@pytest.mark.django_db
def test_a_key_that_may_withdraw_is_valid_with_a_warning(fake_binance, analyst):
    fake_binance.add_account(API_KEY, API_SECRET, can_trade=False, can_withdraw=True)
    credential = store(analyst)

    credential_check.check_credential(credential.pk)

    credential.refresh_from_db()
    assert credential.check_status == CheckStatus.VALID
    assert credential.check_detail == (
        "spot account; cannot trade, can withdraw, can deposit; permissions SPOT. "
        "Central never withdraws: a key without withdrawals is safer"
    )


@pytest.mark.django_db
def test_a_testnet_credential_is_checked_on_the_testnet(fake_binance, settings, analyst):
    settings.BINANCE_API_URL = "http://127.0.0.1:9/api"  # nothing listens there
    fake_binance.add_account(API_KEY, API_SECRET)
    credential = store(analyst, exchange="binance_testnet")

    credential_check.check_credential(credential.pk)

    credential.refresh_from_db()
    assert credential.check_status == CheckStatus.VALID, credential.check_detail


@pytest.mark.django_db
def test_an_unexpected_failure_is_stored_as_an_error_and_raised(fake_binance, analyst, monkeypatch):
    def broken(self):
        raise RuntimeError("a bug")

    monkeypatch.setattr(BinanceSignedClient, "account", broken)
    credential = store(analyst)

    with pytest.raises(RuntimeError):
        credential_check.check_credential(credential.pk)

    credential.refresh_from_db()
    assert credential.check_status == CheckStatus.ERROR
    assert "unexpectedly (RuntimeError)" in credential.check_detail


@pytest.mark.django_db
def test_a_credential_deleted_before_its_check_is_left_alone(fake_binance, analyst):
    credential = store(analyst)
    credentials.delete_credential(credential, actor=analyst)

    result = credential_check.check_credential(credential.pk)

    assert result["check_status"] == "missing"
    assert not SecurityEvent.objects.filter(action=SecurityAction.CREDENTIAL_USED).exists()
    assert fake_binance.requests == []


@pytest.mark.django_db
def test_only_the_owner_may_request_a_check(analyst, viewer):
    credential = store(analyst)

    with pytest.raises(credential_check.NotYourCredential):
        credential_check.request_check(credential, actor=viewer)

    credential.refresh_from_db()
    assert credential.check_status == CheckStatus.UNCHECKED


# --- The API --------------------------------------------------------------------------------


@pytest.fixture
def queued(monkeypatch) -> list[tuple[tuple, dict]]:
    """Check tasks queued, recorded instead of sent."""
    from accounts import tasks

    calls: list[tuple[tuple, dict]] = []
    monkeypatch.setattr(
        tasks.check_credential, "apply_async", lambda args, **options: calls.append((args, options))
    )
    return calls


@pytest.mark.django_db
def test_check_request_answers_202_pending_and_queues_one_task(
    analyst, analyst_client, queued, django_capture_on_commit_callbacks
):
    credential = store(analyst)

    with django_capture_on_commit_callbacks(execute=True):
        response = analyst_client.post(check_url(credential.pk))

    assert response.status_code == 202, response.content
    body = response.json()
    assert body["check_status"] == "pending" and body["check_detail"] == ""
    assert body["checked_at"] is None and body["id"] == credential.pk
    assert response["Location"].endswith(detail_url(credential.pk))
    assert queued == [((credential.pk,), {"queue": CHECK_QUEUE})]
    assert_no_secrets(response.content.decode())


@pytest.mark.django_db
def test_another_users_check_request_is_404_and_queues_nothing(
    analyst, viewer_client, operator_client, anon_client, queued, django_capture_on_commit_callbacks
):
    credential = store(analyst)

    with django_capture_on_commit_callbacks(execute=True) as callbacks:
        for other in (viewer_client, operator_client):
            assert other.post(check_url(credential.pk)).status_code == 404
            assert other.get(detail_url(credential.pk)).status_code == 404
        assert anon_client.post(check_url(credential.pk)).status_code == 401

    assert callbacks == [] and queued == []
    credential.refresh_from_db()
    assert credential.check_status == CheckStatus.UNCHECKED
    assert credential.last_used_at is None
    assert not SecurityEvent.objects.filter(action=SecurityAction.CREDENTIAL_USED).exists()


@pytest.mark.django_db
def test_list_and_detail_show_the_latest_check(analyst, analyst_client):
    credential = store(analyst)
    ExchangeCredential.objects.filter(pk=credential.pk).update(
        check_status=CheckStatus.REJECTED, check_detail="Binance rejected the key: …"
    )

    [listed] = analyst_client.get("/api/credentials/").json()["results"]
    shown = analyst_client.get(detail_url(credential.pk)).json()

    assert listed == shown
    assert (shown["check_status"], shown["check_detail"]) == (
        "rejected",
        "Binance rejected the key: …",
    )
    assert "checked_at" in shown


# --- Through the API, with a real worker ----------------------------------------------------


def worker_log(task_line: str) -> str:
    """What the session's Celery worker logged (tests/conftest.py::celery_worker), once
    it has logged `task_line`. The file's name is fixed, so a concurrent test run in the
    same checkout may have overwritten it: then it is another worker's, and only checked
    for secrets."""
    path = Path(os.environ.get("CENTRAL_TEST_ARTIFACTS", BASE_DIR / "test-artifacts"))
    path /= "celery-worker.log"
    deadline = time.monotonic() + 10
    while True:
        log = path.read_text(errors="replace")
        ours = f"test-{os.getpid()}@" in log
        if not ours or task_line in log or time.monotonic() > deadline:
            break
        time.sleep(0.1)
    if ours:
        assert task_line in log
    return log


def wait_for_outcome(client, pk: int) -> dict:
    deadline = time.monotonic() + CHECK_FAILURE_WAIT_SECONDS
    while time.monotonic() < deadline:
        body = client.get(detail_url(pk)).json()
        if body["check_status"] != CheckStatus.PENDING:
            return body
        time.sleep(0.1)
    raise AssertionError(f"credential #{pk} still pending after {CHECK_FAILURE_WAIT_SECONDS} s")


@pytest.mark.celery_worker
@pytest.mark.django_db(transaction=True)
@pytest.mark.parametrize("scenario", SCENARIOS, ids=str)
def test_worker_checks_the_key_with_binance(
    celery_worker, fake_binance, analyst, analyst_client, caplog, scenario
):
    caplog.set_level(logging.DEBUG)
    scenario.arrange(fake_binance)
    credential = store(analyst)

    queued = analyst_client.post(check_url(credential.pk))
    assert queued.status_code == 202, queued.content
    assert queued.json()["check_status"] == "pending"
    outcome = wait_for_outcome(analyst_client, credential.pk)

    assert outcome["check_status"] == scenario.status, outcome["check_detail"]
    assert_checked_once(credential, fake_binance, scenario)
    assert outcome["check_detail"] == credential.check_detail
    assert outcome["last_used_at"] is not None and outcome["checked_at"] is not None
    assert_no_secrets(
        queued.content.decode(),
        json.dumps(outcome),
        analyst_client.get("/api/credentials/").content.decode(),
        caplog.text,
        worker_log(f"{{'id': {credential.pk}, 'check_status': '{scenario.status}'}}"),
    )
