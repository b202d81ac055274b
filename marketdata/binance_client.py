"""A careful kline downloader over python-binance's `Client`.

python-binance sends one request and raises on a bad answer; a sync needs more than
that: it must wait out rate limits (429, and 418 once Binance has banned the IP) for as
long as `Retry-After` says, back off from network errors and malformed payloads, stop
before the per-minute request weight runs out, and give up with a clear error when
Binance keeps failing. It also counts what it did, for the SyncRun record.
"""

from __future__ import annotations

import logging
import math
import time
from collections.abc import Callable
from dataclasses import dataclass
from itertools import pairwise
from typing import Any, NamedTuple

import requests
from django.conf import settings

from central.metrics import binance as binance_metrics

logger = logging.getLogger(__name__)

MAX_KLINES_PER_REQUEST = 1000  # Binance's ceiling for `limit` on /api/v3/klines
BACKOFF_CAP_SECONDS = 30.0
# A longer Retry-After (a 418 ban can last days) is not worth holding a worker for.
MAX_RETRY_AFTER_SECONDS = 300.0
_RATE_LIMITED = (429, 418)  # 418: the IP is banned for ignoring 429s; Retry-After says how long
_KLINE_FIELDS = 12


class BinanceError(Exception):
    """Binance could not give us the data; the message is meant for the run's record."""


class BinanceRejected(BinanceError):
    """Binance refused the request itself (e.g. -1121 invalid symbol): retrying cannot help."""

    def __init__(self, status_code: int, code: int | None, message: str):
        self.status_code = status_code
        self.code = code
        super().__init__(
            f"Binance rejected the request (HTTP {status_code}, code {code}): {message}"
        )


class BinanceUnavailable(BinanceError):
    """Binance kept failing (rate limits, network, bad payloads) past the retry budget."""


class MalformedPayload(ValueError):
    """The answer was JSON but not the kline rows Binance documents."""


class _Retryable(Exception):
    """A failure worth another try; `retry_after` is Binance's own wait, when it gave one."""

    def __init__(self, message: str, retry_after: float | None = None):
        super().__init__(message)
        self.retry_after = retry_after


class Kline(NamedTuple):
    """One kline row as Binance sends it, parsed; times are ms since the epoch, UTC."""

    open_time: int
    open: float
    high: float
    low: float
    close: float
    volume: float
    close_time: int
    quote_volume: float
    trade_count: int


@dataclass
class RequestStats:
    """What the client did; copied into the SyncRun so operators see the cost of a run."""

    requests: int = 0
    retries: int = 0
    max_weight: int = 0
    weight_pauses: int = 0


def _strict_int(value: Any) -> int:
    # bool is an int in Python, and a float time would mean the payload is not Binance's.
    if isinstance(value, bool) or not isinstance(value, int):
        raise MalformedPayload(f"expected an integer, got {value!r}")
    return value


def _number(value: Any) -> float:
    # Binance sends prices and volumes as decimal strings; accept numbers too, nothing else.
    if isinstance(value, bool) or not isinstance(value, str | int | float):
        raise MalformedPayload(f"expected a decimal string, got {value!r}")
    try:
        return float(value)
    except ValueError:
        raise MalformedPayload(f"expected a decimal string, got {value!r}") from None


def parse_kline(row: Any) -> Kline:
    """Check one row has Binance's 12-field kline shape and parse it."""
    if not isinstance(row, list) or len(row) != _KLINE_FIELDS:
        raise MalformedPayload(f"a kline must be a list of {_KLINE_FIELDS} fields, got {row!r}")
    return Kline(
        open_time=_strict_int(row[0]),
        open=_number(row[1]),
        high=_number(row[2]),
        low=_number(row[3]),
        close=_number(row[4]),
        volume=_number(row[5]),
        close_time=_strict_int(row[6]),
        quote_volume=_number(row[7]),
        trade_count=_strict_int(row[8]),
    )


def parse_klines(payload: Any) -> list[Kline]:
    if not isinstance(payload, list):
        raise MalformedPayload(f"expected a list of klines, got {type(payload).__name__}")
    klines = [parse_kline(row) for row in payload]
    if any(b.open_time <= a.open_time for a, b in pairwise(klines)):
        raise MalformedPayload("klines are not in strictly increasing open-time order")
    return klines


def _retry_after(response: requests.Response | None) -> float | None:
    raw = response.headers.get("Retry-After") if response is not None else None
    try:
        seconds = float(raw) if raw is not None else None
    except ValueError:
        return None
    return seconds if seconds is not None and math.isfinite(seconds) and seconds >= 0 else None


class BinanceKlineClient:
    """Downloads klines politely; one instance per sync run (it carries the run's counters).

    `sleep` and `clock` are injectable so tests can record the waits instead of waiting.
    """

    def __init__(
        self,
        *,
        api_url: str | None = None,
        timeout: float | None = None,
        max_retries: int | None = None,
        weight_limit: int | None = None,
        sleep: Callable[[float], None] = time.sleep,
        clock: Callable[[], float] = time.time,
    ):
        self.max_retries = settings.BINANCE_MAX_RETRIES if max_retries is None else max_retries
        self.weight_limit = settings.BINANCE_WEIGHT_LIMIT if weight_limit is None else weight_limit
        self.sleep = sleep
        self.clock = clock
        self.stats = RequestStats()
        self._pause_before_next = False
        timeout = settings.BINANCE_REQUEST_TIMEOUT if timeout is None else timeout
        # Imported here: python-binance pulls in aiohttp, which every Django process
        # (the CLI, the web server) would otherwise pay for at start-up.
        from binance import Client

        # ping=False: constructing must not reach out to Binance (or the internet in tests).
        self.client = Client(ping=False, requests_params={"timeout": timeout})
        self.client.API_URL = (api_url or settings.BINANCE_API_URL).rstrip("/")

    def fetch_klines(
        self,
        symbol: str,
        interval: str,
        start_ms: int,
        end_ms: int,
        limit: int = MAX_KLINES_PER_REQUEST,
    ) -> list[Kline]:
        """Klines with start_ms <= open time <= end_ms (both inclusive, as Binance has it).

        Raises BinanceRejected at once for a request Binance refuses, BinanceUnavailable
        after `max_retries` retries of rate limits, server or network errors and
        malformed payloads.
        """
        limit = min(limit, MAX_KLINES_PER_REQUEST)
        params = {
            "symbol": symbol,
            "interval": interval,
            "startTime": start_ms,
            "endTime": end_ms,
            "limit": limit,
        }
        attempt = 0
        while True:
            self._respect_weight_limit()
            try:
                return self._request_klines(params)
            except BinanceRejected:
                raise
            except _Retryable as problem:
                if attempt >= self.max_retries:
                    raise BinanceUnavailable(
                        f"Binance klines for {symbol} {interval} failed after "
                        f"{attempt} retries: {problem}"
                    ) from problem
                delay = problem.retry_after
                if delay is None:
                    delay = min(2.0**attempt, BACKOFF_CAP_SECONDS)
                elif delay > MAX_RETRY_AFTER_SECONDS:
                    raise BinanceUnavailable(
                        f"Binance asks us to wait {delay:.0f} s ({problem}); giving up instead"
                    ) from problem
                logger.warning("Binance request failed (%s); retrying in %.1f s", problem, delay)
                attempt += 1
                self.stats.retries += 1
                self.sleep(delay)

    def _request_klines(self, params: dict[str, Any]) -> list[Kline]:
        from binance.exceptions import BinanceAPIException, BinanceRequestException

        self.stats.requests += 1
        try:
            payload = self.client.get_klines(**params)
        except BinanceAPIException as exc:
            self._note_weight(exc.response)
            if exc.status_code in _RATE_LIMITED:
                raise _Retryable(
                    f"HTTP {exc.status_code} rate limited: {exc.message}",
                    _retry_after(exc.response),
                ) from exc
            if exc.status_code >= 500:
                raise _Retryable(f"HTTP {exc.status_code}: {exc.message}") from exc
            raise BinanceRejected(exc.status_code, exc.code, exc.message) from exc
        except BinanceRequestException as exc:
            self._note_weight(self.client.response)
            raise _Retryable(f"malformed payload: {exc.message[:200]}") from exc
        except requests.RequestException as exc:
            raise _Retryable(f"network error: {type(exc).__name__}: {exc}") from exc
        self._note_weight(self.client.response)
        try:
            return parse_klines(payload)
        except MalformedPayload as exc:
            raise _Retryable(f"malformed payload: {str(exc)[:200]}") from exc

    def _note_weight(self, response: requests.Response | None) -> None:
        binance_metrics.record_response(response)  # weight and 429/418s, for /metrics
        used = binance_metrics.used_weight(response)
        if used is None:
            return
        self.stats.max_weight = max(self.stats.max_weight, used)
        if used >= self.weight_limit:
            self._pause_before_next = True

    def _respect_weight_limit(self) -> None:
        """Binance counts weight per clock minute; past our limit, wait for the next one."""
        if not self._pause_before_next:
            return
        self._pause_before_next = False
        delay = 60.0 - (self.clock() % 60.0) + 0.5
        logger.info(
            "Binance request weight at the limit (%s); pausing %.1f s", self.weight_limit, delay
        )
        self.stats.weight_pauses += 1
        self.sleep(delay)
