"""A local stand-in for Binance's REST API, served on 127.0.0.1 from a background thread.

Tests load candle series into it (with holes where the "exchange" has no data), point
python-binance's API_URL at `FakeBinance.api_url`, and script trouble for the next
responses: rate limits with Retry-After, IP bans (418), malformed JSON, truncated
bodies, dropped connections, server errors, and Binance's JSON error bodies such as
-1121 "Invalid symbol.". Every request is recorded so tests can assert what was asked.

Signed (USER_DATA) endpoints, /api/v3/account and /api/v3/myTrades, answer for the
accounts registered with `add_account(api_key, api_secret, ...)`, and check what Binance
checks: the `X-MBX-APIKEY` header (-2014, -2015), the HMAC-SHA256 `signature` of the
query string under the account's secret (-1022), and `timestamp` within `recvWindow`
(-1021), with Binance's own status codes and error bodies.

The kline WebSocket, `/stream?streams=btcusdt@kline_1m/...` (Binance's combined
streams; `ws_url` is what BINANCE_WS_URL should be), plays a script that tests write
with `ws_script([...])`: steps built by `ws_kline` (a forming or closed kline of a REST
row), `ws_raw` (any text, e.g. a malformed frame), `ws_drop` (cut the connection, no
close frame), `ws_silence` (send nothing for a while) and `ws_gate` (wait until the
test sets an event). Steps are taken in order across connections: a connection plays
them until a drop, and the next connection goes on from there. Once the script is
played out a connection stays open and silent. Each connection's `streams` parameter
is recorded (`ws_connections`).

It runs an aiohttp application on its own event loop, so more endpoints can be added
as routes in `_build_app` next to the REST ones.
"""

from __future__ import annotations

import asyncio
import hashlib
import hmac
import json
import random
import socket
import threading
import time
from collections import deque
from collections.abc import Iterable
from dataclasses import dataclass, field
from datetime import datetime

from aiohttp import web

KLINE_LIMIT_DEFAULT = 500
KLINE_LIMIT_MAX = 1000
KLINES_WEIGHT = 2  # Binance's weight of /api/v3/klines for limit <= 1000
ACCOUNT_WEIGHT = 20
MY_TRADES_WEIGHT = 20
MY_TRADES_LIMIT_DEFAULT = 500
MY_TRADES_LIMIT_MAX = 1000
RECV_WINDOW_DEFAULT = 5000
RECV_WINDOW_MAX = 60000
# Binance accepts a timestamp at most this far ahead of its clock.
TIMESTAMP_AHEAD_MS = 1000
INTERVAL_SECONDS = {
    "1s": 1,
    "1m": 60,
    "3m": 180,
    "5m": 300,
    "15m": 900,
    "30m": 1800,
    "1h": 3600,
    "2h": 7200,
    "4h": 14400,
    "6h": 21600,
    "8h": 28800,
    "12h": 43200,
    "1d": 86400,
    "3d": 259200,
    "1w": 604800,
}
FAILURE_KINDS = (
    "rate_limited",
    "banned",
    "malformed",
    "bad_shape",
    "truncated",
    "disconnect",
    "server_error",
    "invalid_symbol",
)
WS_GATE_TIMEOUT = 60.0  # a gate the test never opens does not hold the server forever


@dataclass(frozen=True)
class RecordedRequest:
    method: str
    path: str
    params: dict[str, str]
    at: float
    api_key: str | None = None  # the X-MBX-APIKEY header, if sent
    query_string: str = ""  # as sent (still URL-encoded): what a signature covers

    def int_param(self, name: str) -> int | None:
        value = self.params.get(name)
        return int(value) if value is not None else None


@dataclass
class ScriptedFailure:
    kind: str
    retry_after: float | None = None
    status: int = 500


@dataclass
class FakeAccount:
    """A Binance account reached with one key pair."""

    api_secret: str
    can_trade: bool = True
    can_withdraw: bool = False
    can_deposit: bool = True
    account_type: str = "SPOT"
    permissions: tuple[str, ...] = ("SPOT",)
    balances: dict[str, tuple[str, str]] = field(default_factory=dict)  # asset: (free, locked)
    trades: dict[str, list[dict]] = field(default_factory=dict)  # symbol: Binance's trade objects
    uid: int = 0


@dataclass(frozen=True)
class WsStep:
    """One step of the WebSocket script (build them with the ws_* functions)."""

    kind: str  # "send", "drop", "silence" or "gate"
    text: str = ""
    seconds: float = 0.0
    gate: threading.Event | None = None


def ws_kline(symbol: str, interval: str, row: list, *, closed: bool = True) -> WsStep:
    """A kline event of the REST row (one of make_klines'), forming or closed, framed
    as Binance's combined stream frames it."""
    kline = {
        "t": row[0],
        "T": row[6],
        "s": symbol,
        "i": interval,
        "f": 100,
        "L": 100 + row[8],
        "o": row[1],
        "c": row[4],
        "h": row[2],
        "l": row[3],
        "v": row[5],
        "n": row[8],
        "x": closed,
        "q": row[7],
        "V": row[9],
        "Q": row[10],
        "B": "0",
    }
    data = {"e": "kline", "E": row[6] if closed else row[0], "s": symbol, "k": kline}
    frame = {"stream": f"{symbol.lower()}@kline_{interval}", "data": data}
    return WsStep("send", text=json.dumps(frame))


def ws_raw(text: str) -> WsStep:
    return WsStep("send", text=text)


def ws_drop() -> WsStep:
    return WsStep("drop")


def ws_silence(seconds: float) -> WsStep:
    """Send nothing for `seconds`; a client that hangs up meanwhile ends the connection."""
    return WsStep("silence", seconds=seconds)


def ws_gate(event: threading.Event) -> WsStep:
    """Wait until the test sets `event` (at most WS_GATE_TIMEOUT)."""
    return WsStep("gate", gate=event)


@dataclass
class _State:
    klines: dict[tuple[str, str], list[list]] = field(default_factory=dict)
    accounts: dict[str, FakeAccount] = field(default_factory=dict)  # by API key
    script: deque[ScriptedFailure | None] = field(default_factory=deque)  # None: answer
    requests: list[RecordedRequest] = field(default_factory=list)
    ws_steps: deque[WsStep] = field(default_factory=deque)
    ws_connections: list[str] = field(default_factory=list)  # each one's `streams`
    weight_minute: int = 0
    weight_used: int = 0
    extra_weight: int = 0


def to_ms(moment: datetime) -> int:
    return int(moment.timestamp() * 1000)


def make_klines(
    interval: str,
    start: datetime,
    end: datetime,
    *,
    holes: Iterable[tuple[datetime, datetime]] = (),
    seed: int = 1,
    first_price: float = 100.0,
) -> list[list]:
    """Binance-shaped kline rows opening in [start, end), minus those opening in a hole.

    Prices follow a seeded random walk with valid OHLC, formatted as Binance does
    (decimal strings); holes are (start, end) ranges the exchange has no candles for.
    """
    step = INTERVAL_SECONDS[interval] * 1000
    rng = random.Random(seed)
    hole_ranges = [(to_ms(a), to_ms(b)) for a, b in holes]
    rows: list[list] = []
    price = first_price
    for open_ms in range(to_ms(start), to_ms(end), step):
        open_price = price
        price = max(0.01, price * (1 + rng.uniform(-0.01, 0.01)))
        high = max(open_price, price) * (1 + rng.uniform(0, 0.005))
        low = min(open_price, price) * (1 - rng.uniform(0, 0.005))
        volume = rng.uniform(1, 100)
        if any(a <= open_ms < b for a, b in hole_ranges):
            continue
        rows.append(
            [
                open_ms,
                f"{open_price:.8f}",
                f"{high:.8f}",
                f"{low:.8f}",
                f"{price:.8f}",
                f"{volume:.8f}",
                open_ms + step - 1,
                f"{volume * price:.8f}",
                rng.randint(1, 500),
                f"{volume / 2:.8f}",
                f"{volume * price / 2:.8f}",
                "0",
            ]
        )
    return rows


class FakeBinance:
    """The fake exchange; use as a context manager or call start()/stop()."""

    def __init__(self) -> None:
        self._state = _State()
        self._lock = threading.Lock()
        self._loop: asyncio.AbstractEventLoop | None = None
        self._thread: threading.Thread | None = None
        self._runner: web.AppRunner | None = None
        self.port: int = 0

    # --- lifecycle ------------------------------------------------------------------

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    @property
    def api_url(self) -> str:
        """What python-binance's `Client.API_URL` should be set to."""
        return f"{self.url}/api"

    @property
    def ws_url(self) -> str:
        """What BINANCE_WS_URL should be (the combined stream is `<ws_url>stream`)."""
        return f"ws://127.0.0.1:{self.port}/"

    def start(self) -> FakeBinance:
        sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        sock.bind(("127.0.0.1", 0))
        self.port = sock.getsockname()[1]
        self._loop = asyncio.new_event_loop()
        ready = threading.Event()
        self._thread = threading.Thread(
            target=self._serve, args=(sock, ready), name="fake-binance", daemon=True
        )
        self._thread.start()
        if not ready.wait(10):
            raise RuntimeError("fake Binance server did not start within 10 s")
        return self

    def stop(self) -> None:
        if self._loop is not None and self._thread is not None:
            self._loop.call_soon_threadsafe(self._loop.stop)
            self._thread.join(10)
            self._loop = self._thread = None

    def __enter__(self) -> FakeBinance:
        return self.start()

    def __exit__(self, *exc_info: object) -> None:
        self.stop()

    def _serve(self, sock: socket.socket, ready: threading.Event) -> None:
        loop = self._loop
        assert loop is not None
        asyncio.set_event_loop(loop)
        self._runner = web.AppRunner(self._build_app(), access_log=None)
        loop.run_until_complete(self._runner.setup())
        loop.run_until_complete(web.SockSite(self._runner, sock).start())
        ready.set()
        try:
            loop.run_forever()
        finally:
            loop.run_until_complete(self._runner.cleanup())
            loop.close()

    def _build_app(self) -> web.Application:
        app = web.Application(middlewares=[self._record_and_script])
        app.router.add_get("/api/v3/ping", self._ping)
        app.router.add_get("/api/v3/time", self._time)
        app.router.add_get("/api/v3/klines", self._klines)
        app.router.add_get("/api/v3/account", self._account)
        app.router.add_get("/api/v3/myTrades", self._my_trades)
        app.router.add_get("/stream", self._stream)
        return app

    # --- what tests set up and inspect ----------------------------------------------

    def reset(self) -> None:
        """Forget series, scripted failures, recorded requests and used weight."""
        with self._lock:
            self._state = _State()

    def load_klines(self, symbol: str, interval: str, rows: list[list]) -> None:
        """Serve these rows (Binance's 12-field lists) for symbol and interval."""
        with self._lock:
            self._state.klines[(symbol, interval)] = sorted(rows, key=lambda row: row[0])

    def klines(self, symbol: str, interval: str) -> list[list]:
        with self._lock:
            return list(self._state.klines.get((symbol, interval), []))

    def add_account(
        self,
        api_key: str,
        api_secret: str,
        *,
        can_trade: bool = True,
        can_withdraw: bool = False,
        can_deposit: bool = True,
        account_type: str = "SPOT",
        permissions: Iterable[str] = ("SPOT",),
        balances: dict[str, tuple[str, str]] | None = None,
    ) -> FakeAccount:
        """An account the signed endpoints answer for, given this key and its secret."""
        with self._lock:
            account = FakeAccount(
                api_secret,
                can_trade,
                can_withdraw,
                can_deposit,
                account_type,
                tuple(permissions),
                dict(balances or {}),
                uid=len(self._state.accounts) + 1,
            )
            self._state.accounts[api_key] = account
            return account

    def add_trades(self, api_key: str, trades: Iterable[dict]) -> None:
        """Fills of the account of `api_key`, as Binance's myTrades objects."""
        with self._lock:
            account = self._state.accounts[api_key]
            for trade in trades:
                account.trades.setdefault(trade["symbol"], []).append(dict(trade))
            for rows in account.trades.values():
                rows.sort(key=lambda trade: trade["id"])

    def fail_next(
        self,
        kind: str,
        times: int = 1,
        *,
        after: int = 0,
        retry_after: float | None = None,
        status: int = 500,
    ) -> None:
        """Answer `times` requests with a failure of `kind` (see FAILURE_KINDS), once
        `after` more requests have been answered normally. Calls queue up in order."""
        if kind not in FAILURE_KINDS:
            raise ValueError(f"unknown failure kind {kind!r}; use one of {FAILURE_KINDS}")
        with self._lock:
            self._state.script.extend([None] * after)
            self._state.script.extend(
                ScriptedFailure(kind, retry_after, status) for _ in range(times)
            )

    def ws_script(self, steps: Iterable[WsStep]) -> None:
        """Append steps to the WebSocket script (see the module's docstring)."""
        with self._lock:
            self._state.ws_steps.extend(steps)

    @property
    def ws_connections(self) -> list[str]:
        """The `streams` parameter of every WebSocket connection so far, in order."""
        with self._lock:
            return list(self._state.ws_connections)

    def add_used_weight(self, weight: int) -> None:
        """Pretend other clients of the same IP used this much weight (reported, not reset)."""
        with self._lock:
            self._state.extra_weight += weight

    @property
    def requests(self) -> list[RecordedRequest]:
        with self._lock:
            return list(self._state.requests)

    def kline_requests(self) -> list[RecordedRequest]:
        return [r for r in self.requests if r.path == "/api/v3/klines"]

    def account_requests(self) -> list[RecordedRequest]:
        return [r for r in self.requests if r.path == "/api/v3/account"]

    def has_valid_signature(self, request: RecordedRequest) -> bool:
        """Whether the request's key is registered and its signature is that key's
        secret's HMAC-SHA256 of the query string before it."""
        with self._lock:
            account = self._state.accounts.get(request.api_key or "")
        payload, signature = _split_signature(request.query_string)
        return (
            account is not None
            and signature is not None
            and hmac.compare_digest(signature.lower(), _sign(payload, account.api_secret))
        )

    # --- serving --------------------------------------------------------------------

    def _charge_weight(self, weight: int) -> int:
        minute = int(time.time() // 60)
        with self._lock:
            state = self._state
            if state.weight_minute != minute:
                state.weight_minute, state.weight_used = minute, 0
            state.weight_used += weight
            return state.weight_used + state.extra_weight

    def _weight_headers(self, weight: int) -> dict[str, str]:
        used = str(self._charge_weight(weight))
        return {"x-mbx-used-weight": used, "x-mbx-used-weight-1m": used}

    @web.middleware
    async def _record_and_script(self, request: web.Request, handler) -> web.StreamResponse:
        with self._lock:
            self._state.requests.append(
                RecordedRequest(
                    request.method,
                    request.path,
                    dict(request.query),
                    time.time(),
                    request.headers.get("X-MBX-APIKEY"),
                    request.rel_url.raw_query_string,
                )
            )
            # Scripted failures are for REST answers; the WebSocket has its own script.
            scripted = self._state.script and request.path != "/stream"
            failure = self._state.script.popleft() if scripted else None
        if failure is not None:
            return await self._fail(request, failure)
        return await handler(request)

    async def _fail(self, request: web.Request, failure: ScriptedFailure) -> web.StreamResponse:
        headers = self._weight_headers(1)
        if failure.retry_after is not None:
            headers["Retry-After"] = f"{failure.retry_after:g}"
        if failure.kind == "rate_limited":
            return _error(
                429,
                -1003,
                "Too many requests; current limit of IP is 6000 request weight per 1 MINUTE.",
                headers,
            )
        if failure.kind == "banned":
            return _error(
                418,
                -1003,
                f"Way too many requests; IP banned until {int(time.time() * 1000) + 60_000}.",
                headers,
            )
        if failure.kind == "server_error":
            return _error(
                failure.status,
                -1001,
                "Internal error; unable to process your request. Please try again.",
                headers,
            )
        if failure.kind == "invalid_symbol":
            return _error(400, -1121, "Invalid symbol.", headers)
        if failure.kind == "malformed":
            return web.Response(
                text='[[1700000000000, "1.0", "2.0"',
                headers=headers,
                content_type="application/json",
            )
        if failure.kind == "bad_shape":
            return web.json_response([[1700000000000, "1.0", "2.0"]], headers=headers)
        return await self._break_connection(request, failure.kind == "truncated", headers)

    async def _break_connection(
        self, request: web.Request, send_partial_body: bool, headers: dict[str, str]
    ) -> web.StreamResponse:
        """Drop the connection, after a promised-but-cut-short body when asked."""
        response = web.StreamResponse(
            headers={**headers, "Content-Length": "4096", "Content-Type": "application/json"}
        )
        if send_partial_body:
            await response.prepare(request)
            await response.write(b'[[1700000000000, "1.0", "2.0", ')
        transport = request.transport
        if transport is not None:
            transport.abort()
        raise asyncio.CancelledError

    async def _stream(self, request: web.Request) -> web.StreamResponse:
        socket = web.WebSocketResponse(autoping=True)
        await socket.prepare(request)
        with self._lock:
            self._state.ws_connections.append(request.query.get("streams", ""))
        while not socket.closed:
            with self._lock:
                step = self._state.ws_steps.popleft() if self._state.ws_steps else None
            if step is None:
                await _until_closed(socket, None)
            elif step.kind == "send":
                await socket.send_str(step.text)
            elif step.kind == "drop":
                if request.transport is not None:
                    request.transport.abort()
                break
            elif step.kind == "silence":
                await _until_closed(socket, step.seconds)
            elif step.kind == "gate" and step.gate is not None:
                await asyncio.to_thread(step.gate.wait, WS_GATE_TIMEOUT)
        return socket

    async def _ping(self, request: web.Request) -> web.Response:
        return web.json_response({}, headers=self._weight_headers(1))

    async def _time(self, request: web.Request) -> web.Response:
        return web.json_response(
            {"serverTime": int(time.time() * 1000)}, headers=self._weight_headers(1)
        )

    async def _klines(self, request: web.Request) -> web.Response:
        headers = self._weight_headers(KLINES_WEIGHT)
        query = request.query
        symbol, interval = query.get("symbol", ""), query.get("interval", "")
        if not symbol:
            return _error(
                400,
                -1102,
                "Mandatory parameter 'symbol' was not sent, was empty/null, or malformed.",
                headers,
            )
        if interval not in INTERVAL_SECONDS:
            return _error(400, -1120, "Invalid interval.", headers)
        with self._lock:
            rows = self._state.klines.get((symbol, interval))
        if rows is None:
            return _error(400, -1121, "Invalid symbol.", headers)
        try:
            limit = int(query.get("limit", KLINE_LIMIT_DEFAULT))
            start = int(query["startTime"]) if "startTime" in query else None
            end = int(query["endTime"]) if "endTime" in query else None
        except ValueError:
            return _error(400, -1100, "Illegal characters found in a parameter.", headers)
        if not 1 <= limit <= KLINE_LIMIT_MAX:
            return _error(400, -1130, "Data sent for parameter 'limit' is not valid.", headers)
        return web.json_response(select_klines(rows, start, end, limit), headers=headers)

    async def _account(self, request: web.Request) -> web.Response:
        headers = self._weight_headers(ACCOUNT_WEIGHT)
        account = self._signed_account(request, headers)
        if isinstance(account, web.Response):
            return account
        omit_zero = request.query.get("omitZeroBalances", "false").lower() == "true"
        balances = [
            {"asset": asset, "free": free, "locked": locked}
            for asset, (free, locked) in sorted(account.balances.items())
            if not (omit_zero and float(free) == 0 and float(locked) == 0)
        ]
        return web.json_response(
            {
                "makerCommission": 10,
                "takerCommission": 10,
                "buyerCommission": 0,
                "sellerCommission": 0,
                "commissionRates": {
                    "maker": "0.00100000",
                    "taker": "0.00100000",
                    "buyer": "0.00000000",
                    "seller": "0.00000000",
                },
                "canTrade": account.can_trade,
                "canWithdraw": account.can_withdraw,
                "canDeposit": account.can_deposit,
                "brokered": False,
                "requireSelfTradePrevention": False,
                "preventSor": False,
                "updateTime": int(time.time() * 1000),
                "accountType": account.account_type,
                "balances": balances,
                "permissions": list(account.permissions),
                "uid": account.uid,
            },
            headers=headers,
        )

    async def _my_trades(self, request: web.Request) -> web.Response:
        headers = self._weight_headers(MY_TRADES_WEIGHT)
        account = self._signed_account(request, headers)
        if isinstance(account, web.Response):
            return account
        query = request.query
        symbol = query.get("symbol", "")
        if not symbol:
            return _missing_parameter("symbol", headers)
        try:
            limit = int(query.get("limit", MY_TRADES_LIMIT_DEFAULT))
            from_id = int(query["fromId"]) if "fromId" in query else None
            start = int(query["startTime"]) if "startTime" in query else None
            end = int(query["endTime"]) if "endTime" in query else None
        except ValueError:
            return _error(400, -1100, "Illegal characters found in a parameter.", headers)
        if not 1 <= limit <= MY_TRADES_LIMIT_MAX:
            return _error(400, -1130, "Data sent for parameter 'limit' is not valid.", headers)
        with self._lock:
            rows = list(account.trades.get(symbol, []))
        if from_id is not None:
            return web.json_response(
                [row for row in rows if row["id"] >= from_id][:limit], headers=headers
            )
        chosen = [
            row
            for row in rows
            if (start is None or row["time"] >= start) and (end is None or row["time"] <= end)
        ]
        return web.json_response(
            chosen[:limit] if start is not None else chosen[-limit:], headers=headers
        )

    def _signed_account(
        self, request: web.Request, headers: dict[str, str]
    ) -> FakeAccount | web.Response:
        """The account a signed request reaches, or Binance's refusal, checked in
        Binance's order: key, mandatory parameters, signature, time window."""
        api_key = request.headers.get("X-MBX-APIKEY", "")
        with self._lock:
            account = self._state.accounts.get(api_key)
        if not api_key:
            return _error(401, -2014, "API-key format invalid.", headers)
        if account is None:
            return _error(401, -2015, "Invalid API-key, IP, or permissions for action.", headers)
        payload, signature = _split_signature(request.rel_url.raw_query_string)
        if not signature:
            return _missing_parameter("signature", headers)
        query = request.query
        try:
            timestamp = int(query["timestamp"])
        except (KeyError, ValueError):
            return _missing_parameter("timestamp", headers)
        try:
            recv_window = int(query.get("recvWindow", RECV_WINDOW_DEFAULT))
        except ValueError:
            return _error(400, -1100, "Illegal characters found in a parameter.", headers)
        if not 0 < recv_window <= RECV_WINDOW_MAX:
            return _error(400, -1131, "recvWindow must be less than 60000", headers)
        if not hmac.compare_digest(signature.lower(), _sign(payload, account.api_secret)):
            return _error(400, -1022, "Signature for this request is not valid.", headers)
        now = int(time.time() * 1000)
        if timestamp > now + TIMESTAMP_AHEAD_MS:
            return _error(
                400,
                -1021,
                "Timestamp for this request was 1000ms ahead of the server's time.",
                headers,
            )
        if now - timestamp > recv_window:
            return _error(
                400, -1021, "Timestamp for this request is outside of the recvWindow.", headers
            )
        return account


async def _until_closed(socket: web.WebSocketResponse, seconds: float | None) -> None:
    """Read (and drop) what the client sends until it closes, or `seconds` pass."""
    loop = asyncio.get_running_loop()
    deadline = None if seconds is None else loop.time() + seconds
    while not socket.closed:
        timeout = None if deadline is None else deadline - loop.time()
        if timeout is not None and timeout <= 0:
            return
        try:
            message = await socket.receive(timeout=timeout)
        except TimeoutError:
            return
        if message.type in (web.WSMsgType.CLOSE, web.WSMsgType.CLOSED, web.WSMsgType.ERROR):
            return


def _sign(payload: str, secret: str) -> str:
    return hmac.new(secret.encode(), payload.encode(), hashlib.sha256).hexdigest()


def _split_signature(query_string: str) -> tuple[str, str | None]:
    """(what was signed, the signature), or (the query, None) unless the last parameter
    is a non-empty `signature`, as Binance wants it."""
    payload, separator, signature = query_string.rpartition("signature=")
    if not separator or not signature or "&" in signature:
        return query_string, None
    if payload and not payload.endswith("&"):  # e.g. "xsignature=": another parameter
        return query_string, None
    return payload.removesuffix("&"), signature


def _missing_parameter(name: str, headers: dict[str, str]) -> web.Response:
    return _error(
        400,
        -1102,
        f"Mandatory parameter '{name}' was not sent, was empty/null, or malformed.",
        headers,
    )


def select_klines(rows: list[list], start: int | None, end: int | None, limit: int) -> list[list]:
    """Binance's rule: open time within [startTime, endTime]; from the start when a
    startTime is given, otherwise the latest `limit` rows up to endTime (or now)."""
    chosen = [
        row for row in rows if (start is None or row[0] >= start) and (end is None or row[0] <= end)
    ]
    return chosen[:limit] if start is not None else chosen[-limit:]


def _error(status: int, code: int, message: str, headers: dict[str, str]) -> web.Response:
    return web.json_response({"code": code, "msg": message}, status=status, headers=headers)
