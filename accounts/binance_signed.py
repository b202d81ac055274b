"""A client for Binance's signed REST endpoints (security type USER_DATA), with one
user's key: the account (`account`) and its trades (`my_trades`).

Binance authenticates such a request by the key, in the `X-MBX-APIKEY` header, and by
`signature`, the hex HMAC-SHA256 of the query string under the secret, sent as the last
parameter; `timestamp` (ms) and `recvWindow` bound how long the request is valid.

python-binance's `Client` is not used for these: it signs a copy of the parameters that
it sorts and re-encodes itself, and builds WebSocket clients and an event loop with
every instance. Signing is a few lines here, checked against Binance's documented
example, and what is signed is exactly what is sent.

Errors are marketdata.binance_client's: `BinanceRejected` when Binance refused the
request, its subclass `KeyRejected` when it refused the key itself; `BinanceUnavailable`
when it could not answer (server errors, network, malformed payloads), its subclass
`BinanceRateLimited` for 429 and 418 with Binance's `Retry-After`. Each call makes one
request: the caller decides whether a failure is worth another.

The key and the secret go into the request and nowhere else: not into an exception, a
log line or a repr. Binance's error messages are passed on with both removed, network
errors are reported by type (their text holds the signed URL), and no answer's body is
quoted, since an account's answer holds its balances.
"""

from __future__ import annotations

import hashlib
import hmac
import logging
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from decimal import Decimal, InvalidOperation
from typing import Any, TypeVar
from urllib.parse import urlencode

import requests
from django.conf import settings

from accounts.credentials import ApiKeyPair
from accounts.models import Exchange
from central.metrics import binance as binance_metrics
from central.metrics.binance import WEIGHT_HEADER
from marketdata.binance_client import (
    BinanceError,
    BinanceRejected,
    BinanceUnavailable,
    MalformedPayload,
    _retry_after,
)

logger = logging.getLogger(__name__)
Result = TypeVar("Result")

RECV_WINDOW_MS = 5000  # Binance's default; it accepts at most 60000
MAX_TRADES_PER_REQUEST = 1000  # Binance's ceiling for `limit` on /api/v3/myTrades
_RATE_LIMITED = (429, 418)  # 418: the IP is banned for ignoring 429s
_UNAUTHORIZED = 401

# Binance's codes for a refused key, with what its owner can do about it.
KEY_REJECTIONS = {
    -1022: "the secret does not belong to this key",
    -2014: "the key is not in Binance's format",
    -2015: "the key is unknown, deleted, restricted to other IP addresses, "
    "or not allowed to read the account",
}


class KeyRejected(BinanceRejected):
    """Binance refused the key or its signature: checking again with the same key fails
    again. The message names Binance's code and says what it means for the key."""

    def __init__(self, status_code: int, code: int | None, message: str):
        self.status_code = status_code
        self.code = code
        text = f"Binance rejected the key: {message.rstrip('.')}"
        text += f" ({code})" if code is not None else f" (HTTP {status_code})"
        if code in KEY_REJECTIONS:
            text += f": {KEY_REJECTIONS[code]}"
        BinanceError.__init__(self, text)  # not BinanceRejected's "rejected the request"


class BinanceRateLimited(BinanceUnavailable):
    """429 (over the request-weight limit) or 418 (the server's IP address is banned for
    a while); `retry_after` is Binance's wait in seconds, when it gave one."""

    def __init__(self, status_code: int, code: int | None, message: str, retry_after: float | None):
        self.status_code = status_code
        self.code = code
        self.retry_after = retry_after
        if status_code == 418:
            text = "Binance has banned this server's IP address for sending too many requests"
        else:
            text = "Binance is limiting this server's requests"
        text += f" (HTTP {status_code}, code {code}): {message.rstrip('.')}"
        if retry_after is not None:
            text += f"; it asks to wait {retry_after:g} s"
        super().__init__(text)


def sign(payload: str, secret: str) -> str:
    """Binance's HMAC-SHA256 signature of a query string (plus body), in hex."""
    return hmac.new(secret.encode(), payload.encode(), hashlib.sha256).hexdigest()


def signed_query(params: Mapping[str, Any], secret: str) -> str:
    """The query string of `params`, in their order, with its signature appended."""
    query = urlencode({name: _encoded(value) for name, value in params.items()})
    return f"{query}&signature={sign(query, secret)}"


def _encoded(value: Any) -> str:
    if isinstance(value, bool):
        return "true" if value else "false"
    return str(value)


def api_url_for(exchange: str) -> str:
    """The REST base URL (ending in /api) of a credential's exchange, from the settings."""
    urls = {
        Exchange.BINANCE: settings.BINANCE_API_URL,
        Exchange.BINANCE_TESTNET: settings.BINANCE_TESTNET_API_URL,
    }
    if exchange not in urls:
        raise ValueError(f"no Binance REST URL for exchange {exchange!r}")
    return urls[exchange]


@dataclass(frozen=True)
class AccountInfo:
    """What /api/v3/account says of an account, without its balances."""

    account_type: str
    can_trade: bool
    can_withdraw: bool
    can_deposit: bool
    permissions: tuple[str, ...]


@dataclass(frozen=True)
class AccountTrade:
    """One of the account's fills (/api/v3/myTrades); time in ms since the epoch, UTC."""

    id: int
    order_id: int
    symbol: str
    price: Decimal
    qty: Decimal
    quote_qty: Decimal
    commission: Decimal
    commission_asset: str
    time: int
    is_buyer: bool
    is_maker: bool


def _field(payload: Mapping[str, Any], name: str, kind: type) -> Any:
    value = payload.get(name)
    # bool is an int in Python; neither passes for the other here.
    if isinstance(value, kind) and (kind is bool or not isinstance(value, bool)):
        return value
    raise MalformedPayload(f"{name!r} should be a {kind.__name__}, got {type(value).__name__}")


def _decimal(payload: Mapping[str, Any], name: str) -> Decimal:
    text = _field(payload, name, str)
    try:
        value = Decimal(text)
    except InvalidOperation:
        raise MalformedPayload(f"{name!r} should be a decimal string") from None
    if not value.is_finite():
        raise MalformedPayload(f"{name!r} should be a finite decimal")
    return value


def _object(payload: Any) -> Mapping[str, Any]:
    if not isinstance(payload, dict):
        raise MalformedPayload(f"expected an object, got {type(payload).__name__}")
    return payload


def parse_account(payload: Any) -> AccountInfo:
    account = _object(payload)
    # Binance marks `permissions` deprecated; an answer without it is still an account.
    permissions = account.get("permissions", [])
    if not isinstance(permissions, list) or not all(isinstance(p, str) for p in permissions):
        raise MalformedPayload("'permissions' should be a list of names")
    return AccountInfo(
        account_type=_field(account, "accountType", str),
        can_trade=_field(account, "canTrade", bool),
        can_withdraw=_field(account, "canWithdraw", bool),
        can_deposit=_field(account, "canDeposit", bool),
        permissions=tuple(permissions),
    )


def parse_trade(payload: Any) -> AccountTrade:
    trade = _object(payload)
    return AccountTrade(
        id=_field(trade, "id", int),
        order_id=_field(trade, "orderId", int),
        symbol=_field(trade, "symbol", str),
        price=_decimal(trade, "price"),
        qty=_decimal(trade, "qty"),
        quote_qty=_decimal(trade, "quoteQty"),
        commission=_decimal(trade, "commission"),
        commission_asset=_field(trade, "commissionAsset", str),
        time=_field(trade, "time", int),
        is_buyer=_field(trade, "isBuyer", bool),
        is_maker=_field(trade, "isMaker", bool),
    )


def parse_trades(payload: Any, symbol: str) -> list[AccountTrade]:
    if not isinstance(payload, list):
        raise MalformedPayload(f"expected a list of trades, got {type(payload).__name__}")
    trades = [parse_trade(row) for row in payload]
    if any(trade.symbol != symbol for trade in trades):
        raise MalformedPayload(f"trades of another symbol than {symbol}")
    return trades


def _error_body(response: requests.Response) -> tuple[int | None, str]:
    """Binance's {"code": -2015, "msg": "..."}, or (None, a description) for any other body."""
    try:
        body = response.json()
    except ValueError:
        body = None
    if not isinstance(body, dict) or not isinstance(body.get("msg"), str):
        return None, "no error message (the answer is not Binance's error JSON)"
    code = body.get("code")
    return (code if isinstance(code, int) and not isinstance(code, bool) else None), body["msg"]


class BinanceSignedClient:
    """Signed requests with one key pair; use as a context manager, or close() it.

    `clock` (seconds since the epoch) is injectable so tests can sign at a fixed time.
    """

    def __init__(
        self,
        keys: ApiKeyPair,
        *,
        api_url: str,
        timeout: float | None = None,
        recv_window: int = RECV_WINDOW_MS,
        clock: Callable[[], float] = time.time,
    ):
        self._keys = keys
        self.api_url = api_url.rstrip("/")
        self.timeout = settings.BINANCE_REQUEST_TIMEOUT if timeout is None else timeout
        self.recv_window = recv_window
        self.clock = clock
        self._session = requests.Session()

    @classmethod
    def for_exchange(cls, exchange: str, keys: ApiKeyPair, **options) -> BinanceSignedClient:
        return cls(keys, api_url=api_url_for(exchange), **options)

    def __repr__(self) -> str:
        return f"<BinanceSignedClient {self.api_url} key …{self._keys.api_key[-4:]}>"

    def close(self) -> None:
        self._session.close()

    def __enter__(self) -> BinanceSignedClient:
        return self

    def __exit__(self, *exc_info: object) -> None:
        self.close()

    def account(self) -> AccountInfo:
        """The account's type and what the key may do with it (GET /api/v3/account)."""
        return self._signed_get("/v3/account", {"omitZeroBalances": True}, parse_account)

    def my_trades(
        self, symbol: str, from_id: int | None = None, limit: int = MAX_TRADES_PER_REQUEST
    ) -> list[AccountTrade]:
        """The account's trades in `symbol` (GET /api/v3/myTrades), oldest first: from
        trade id `from_id` on when given, else the latest `limit`."""
        params: dict[str, Any] = {"symbol": symbol}
        if from_id is not None:
            params["fromId"] = from_id
        params["limit"] = min(limit, MAX_TRADES_PER_REQUEST)
        return self._signed_get("/v3/myTrades", params, lambda rows: parse_trades(rows, symbol))

    # --- one signed request ---------------------------------------------------------

    def _signed_get(
        self, path: str, params: Mapping[str, Any], parse: Callable[[Any], Result]
    ) -> Result:
        query = signed_query(
            {**params, "recvWindow": self.recv_window, "timestamp": int(self.clock() * 1000)},
            self._keys.api_secret,
        )
        # The query is built here, so requests sends it as signed. Its exceptions are not
        # chained (`from None`): their text holds the signed URL.
        try:
            response = self._session.get(
                f"{self.api_url}{path}?{query}",
                headers={"X-MBX-APIKEY": self._keys.api_key},
                timeout=self.timeout,
            )
        except requests.Timeout:
            raise BinanceUnavailable(
                f"Binance did not answer {path} within {self.timeout:g} s"
            ) from None
        except requests.ConnectionError:
            raise BinanceUnavailable(
                f"could not reach Binance for {path}, or it dropped the connection"
            ) from None
        except requests.RequestException as exc:
            raise BinanceUnavailable(
                f"the connection to Binance broke during {path} ({type(exc).__name__})"
            ) from None
        if self.api_url == settings.BINANCE_API_URL.rstrip("/"):  # the testnet's weight is its own
            binance_metrics.record_response(response)  # weight and 429/418s, for /metrics
        logger.debug(
            "GET %s: HTTP %s, weight used %s",
            path,
            response.status_code,
            response.headers.get(WEIGHT_HEADER),
        )
        if not 200 <= response.status_code < 300:
            self._raise_refusal(path, response)
        try:
            payload = response.json()
        except ValueError:
            raise BinanceUnavailable(f"Binance's answer to {path} is not JSON") from None
        try:
            return parse(payload)
        except MalformedPayload as exc:
            raise BinanceUnavailable(f"Binance's answer to {path} is malformed: {exc}") from None

    def _raise_refusal(self, path: str, response: requests.Response) -> None:
        status = response.status_code
        code, message = _error_body(response)
        message = self._without_keys(message)
        if status in _RATE_LIMITED:
            raise BinanceRateLimited(status, code, message, _retry_after(response))
        if status >= 500:
            raise BinanceUnavailable(
                f"Binance failed on {path} (HTTP {status}, code {code}): {message}"
            )
        if status == _UNAUTHORIZED or code in KEY_REJECTIONS:
            raise KeyRejected(status, code, message)
        raise BinanceRejected(status, code, message)

    def _without_keys(self, text: str) -> str:
        for secret in (self._keys.api_key, self._keys.api_secret):
            if secret:
                text = text.replace(secret, "***")
        return text
