"""Importing the account's trades from Binance with a stored credential: paging by fromId
per symbol against the fake Binance, in the worker process and in this one; re-fetches
add nothing; a rejected key, an unknown symbol and a deleted credential end the batch
failed saying why; the credential is decrypted once per fetch, audited."""

from __future__ import annotations

import time
from decimal import Decimal

import pytest

from accounts import credentials
from audit.models import SecurityAction, SecurityEvent
from replay import imports
from replay.models import ImportBatch, TransactionHistory
from tests.replay.import_helpers import utc

API_KEY = "fetchKEY0000000000000001"
API_SECRET = "fetch-secret-0000000000000001"
FETCH = "/api/transactions/history/fetch/"
T0_MS = 1_704_067_200_000  # 2024-01-01


def binance_trade(symbol: str, trade_id: int, **fields) -> dict:
    return {
        "symbol": symbol,
        "id": trade_id,
        "orderId": 5000 + trade_id,
        "orderListId": -1,
        "price": "42000.10000000",
        "qty": "0.00150000",
        "quoteQty": "63.00015000",
        "commission": "0.00000150",
        "commissionAsset": "BNB",
        "time": T0_MS + trade_id * 60_000,
        "isBuyer": trade_id % 2 == 1,
        "isMaker": trade_id % 3 == 0,
        "isBestMatch": True,
        **fields,
    }


def account_with_trades(fake) -> None:
    """BTCUSDT: 5 trades (ids 1-5); ETHUSDT: 4 (ids 11-14, one more than two pages of 2)."""
    fake.add_account(API_KEY, API_SECRET)
    fake.add_trades(API_KEY, [binance_trade("BTCUSDT", i) for i in range(1, 6)])
    fake.add_trades(
        API_KEY,
        [
            binance_trade("ETHUSDT", i, price="2300.5", qty="1.25", quoteQty="2875.625",
                          commission="2.875625", commissionAsset="USDT")
            for i in range(11, 15)
        ],
    )  # fmt: skip


def store_credential(owner, api_key: str = API_KEY):
    return credentials.store_credential(
        owner, exchange="binance", label="main", api_key=api_key, api_secret=API_SECRET
    )


def my_trades_requests(fake) -> list[tuple[str, str, str]]:
    return [
        (r.params["symbol"], r.params.get("fromId"), r.params["limit"])
        for r in fake.requests
        if r.path == "/api/v3/myTrades"
    ]


def wait_until_finished(batch_id: int, timeout: float = 30) -> ImportBatch:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        batch = ImportBatch.objects.get(pk=batch_id)
        if batch.status in ("completed", "failed"):
            return batch
        time.sleep(0.1)
    raise AssertionError(f"import #{batch_id} still {batch.status} after {timeout} s")


# --- In the worker ---------------------------------------------------------------------


@pytest.mark.django_db(transaction=True)
def test_a_fetch_runs_in_the_worker_paging_each_symbol_by_trade_id(
    celery_worker, fake_binance, analyst, analyst_client
):
    account_with_trades(fake_binance)
    credential = store_credential(analyst)

    response = analyst_client.post(
        FETCH,
        {"credential": credential.pk, "symbols": ["btc/usdt", "ETHUSDT"], "page_size": 2},
        format="json",
    )

    assert response.status_code == 202, response.content
    body = response.json()
    assert (body["status"], body["format"], body["exchange"]) == (
        "queued",
        "binance_api",
        "binance",
    )
    assert body["parameters"]["symbols"] == ["BTCUSDT", "ETHUSDT"]
    batch = wait_until_finished(body["id"])
    assert batch.status == "completed", batch.error
    assert (batch.rows_total, batch.inserted, batch.skipped) == (9, 9, 0)
    assert my_trades_requests(fake_binance) == [
        ("BTCUSDT", "0", "2"),
        ("BTCUSDT", "3", "2"),
        ("BTCUSDT", "5", "2"),  # one trade: a short page ends the symbol
        ("ETHUSDT", "0", "2"),
        ("ETHUSDT", "13", "2"),
        ("ETHUSDT", "15", "2"),  # an empty page after two full ones
    ]
    fills = {fill.transaction_id: fill for fill in TransactionHistory.objects.filter(owner=analyst)}
    assert sorted(fills, key=int) == ["1", "2", "3", "4", "5", "11", "12", "13", "14"]
    eth = fills["12"]
    assert (eth.symbol, eth.side, eth.price, eth.quantity) == (
        "ETHUSDT",
        "sell",
        Decimal("2300.5"),
        Decimal("1.25"),
    )
    assert eth.transaction_time == utc(2024, 1, 1, 0, 12)
    assert (eth.metadata["fee"], eth.metadata["fee_asset"]) == ("2.875625", "USDT")
    # A maker fill rested on the book: a limit order; a taker fill's type is not known.
    assert (fills["3"].transaction_type, fills["3"].metadata["type_known"]) == ("limit", True)
    assert (fills["1"].transaction_type, fills["1"].metadata["type_known"]) == ("market", False)
    assert fills["1"].metadata["raw"]["orderId"] == 5001
    used = SecurityEvent.objects.filter(action=SecurityAction.CREDENTIAL_USED)
    assert [event.detail for event in used] == [{"purpose": imports.FETCH_PURPOSE}]

    again = analyst_client.post(
        FETCH, {"credential": credential.pk, "symbols": ["BTCUSDT", "ETHUSDT"]}, format="json"
    )
    batch = wait_until_finished(again.json()["id"])
    assert (batch.status, batch.rows_total, batch.inserted, batch.skipped) == (
        "completed",
        9,
        0,
        9,
    )
    assert TransactionHistory.objects.filter(owner=analyst).count() == 9


@pytest.mark.django_db(transaction=True)
def test_a_rejected_key_fails_the_fetch_saying_so(
    celery_worker, fake_binance, analyst, analyst_client
):
    account_with_trades(fake_binance)
    credential = store_credential(analyst, api_key="unknownKEY00000000000001")

    response = analyst_client.post(
        FETCH, {"credential": credential.pk, "symbols": ["BTCUSDT"]}, format="json"
    )

    batch = wait_until_finished(response.json()["id"])
    assert batch.status == "failed"
    assert batch.error.startswith(
        "Binance rejected the key: Invalid API-key, IP, or permissions for action (-2015)"
    )
    assert "unknownKEY" not in batch.error and API_SECRET not in batch.error
    assert (batch.rows_total, batch.inserted) == (0, 0)
    assert not TransactionHistory.objects.exists()


# --- In this process ---------------------------------------------------------------------


@pytest.mark.django_db
def test_fills_before_the_start_time_are_not_stored(
    fake_binance, analyst, django_capture_on_commit_callbacks
):
    account_with_trades(fake_binance)
    credential = store_credential(analyst)
    with django_capture_on_commit_callbacks(execute=False):
        batch = imports.request_fetch(
            analyst,
            credential_id=credential.pk,
            symbols=["BTCUSDT"],
            start_time=utc(2024, 1, 1, 0, 3),
            page_size=2,
        )

    result = imports.run_fetch(batch.pk)

    assert (result["status"], result["rows_total"], result["inserted"]) == ("completed", 3, 3)
    stored = TransactionHistory.objects.filter(owner=analyst).values_list(
        "transaction_id", flat=True
    )
    assert sorted(stored) == ["3", "4", "5"]


@pytest.mark.django_db
def test_an_unknown_symbol_fails_the_fetch_naming_it_and_keeps_what_came_before(
    fake_binance, analyst, django_capture_on_commit_callbacks
):
    account_with_trades(fake_binance)
    credential = store_credential(analyst)
    with django_capture_on_commit_callbacks(execute=False):
        batch = imports.request_fetch(
            analyst, credential_id=credential.pk, symbols=["BTCUSDT", "NOPEUSDT"]
        )
    fake_binance.fail_next("invalid_symbol", after=1)

    result = imports.run_fetch(batch.pk)

    batch.refresh_from_db()
    assert batch.status == "failed" and result["status"] == "failed"
    assert batch.error.startswith("NOPEUSDT: ") and "Invalid symbol" in batch.error
    assert (batch.rows_total, batch.inserted) == (5, 5)  # BTCUSDT's fills are kept


@pytest.mark.django_db
def test_a_rate_limited_page_is_asked_again(
    fake_binance, analyst, django_capture_on_commit_callbacks
):
    account_with_trades(fake_binance)
    credential = store_credential(analyst)
    with django_capture_on_commit_callbacks(execute=False):
        batch = imports.request_fetch(analyst, credential_id=credential.pk, symbols=["BTCUSDT"])
    fake_binance.fail_next("rate_limited", retry_after=0)

    assert imports.run_fetch(batch.pk)["inserted"] == 5


@pytest.mark.django_db
def test_a_credential_deleted_before_the_fetch_fails_it(
    fake_binance, analyst, django_capture_on_commit_callbacks
):
    credential = store_credential(analyst)
    with django_capture_on_commit_callbacks(execute=False):
        batch = imports.request_fetch(analyst, credential_id=credential.pk, symbols=["BTCUSDT"])
    credential_id = credential.pk
    credentials.delete_credential(credential, actor=analyst)

    result = imports.run_fetch(batch.pk)

    assert result["status"] == "failed"
    assert ImportBatch.objects.get(pk=batch.pk).error == (
        f"credential #{credential_id} was deleted before the fetch ran"
    )
    assert fake_binance.requests == []
    assert imports.run_fetch(batch.pk) == {"id": batch.pk, "status": "failed"}  # not again


@pytest.mark.django_db
def test_fetch_requests_are_checked(analyst_client, analyst, make_user, viewer_client):
    bob = make_user("bob", role="analyst")
    theirs = store_credential(bob)

    def post(body: dict):
        return analyst_client.post(FETCH, body, format="json")

    assert post({"credential": theirs.pk, "symbols": ["BTCUSDT"]}).json() == {
        "credential": [f"you have no credential #{theirs.pk}"]
    }
    mine = store_credential(analyst)
    assert set(post({"credential": mine.pk, "symbols": ["BTC USDT!"]}).json()) == {"symbols"}
    assert set(post({"credential": mine.pk, "symbols": []}).json()) == {"symbols"}
    assert set(post({"credential": mine.pk, "symbols": ["X"], "page_size": 0}).json()) == {
        "page_size"
    }
    assert (
        viewer_client.post(FETCH, {"credential": mine.pk, "symbols": ["BTCUSDT"]}).status_code
        == 403
    )
    assert not ImportBatch.objects.exists()
