"""Binance request weight and rate limits, shared by every worker through Redis.

Binance counts request weight per IP address, so the figure that matters is the last
`X-MBX-USED-WEIGHT-1M` any of our processes saw, and every 429 (over the limit) or 418
(banned for ignoring 429s) any of them got. Each response costs one pipelined round trip
to one Redis hash; the metrics collector reads the hash when Prometheus scrapes.
Recording never fails a request: Redis being down only loses the figures.
"""

from __future__ import annotations

import functools
import logging
import time
from dataclasses import dataclass

import redis
import requests
from django.conf import settings

logger = logging.getLogger(__name__)

KEY = "central:metrics:binance"
WEIGHT_HEADER = "x-mbx-used-weight-1m"
RATE_LIMIT_CODES = (429, 418)


@functools.cache
def redis_client(url: str) -> redis.Redis:
    """One connection pool per process and URL; short timeouts so a Redis outage costs a
    sync (or a scrape) a second, not a hang."""
    return redis.Redis.from_url(url, socket_connect_timeout=1, socket_timeout=1)


def used_weight(response: requests.Response | None) -> int | None:
    raw = response.headers.get(WEIGHT_HEADER) if response is not None else None
    if raw is None or not raw.strip().isdigit():
        return None
    return int(raw)


def record_response(response: requests.Response | None) -> None:
    """Count one Binance answer (None: no answer at all, which is not counted)."""
    if response is None:
        return
    weight = used_weight(response)
    try:
        pipe = redis_client(settings.REDIS_URL).pipeline(transaction=False)
        pipe.hincrby(KEY, "responses", 1)
        if response.status_code in RATE_LIMIT_CODES:
            pipe.hincrby(KEY, f"status_{response.status_code}", 1)
        if weight is not None:
            pipe.hset(KEY, mapping={"used_weight_1m": weight, "weight_seen_at": time.time()})
        pipe.execute()
    except redis.RedisError as exc:
        logger.warning("could not record a Binance response for metrics: %s", exc)


@dataclass(frozen=True)
class BinanceFigures:
    responses: int
    rate_limited: dict[int, int]  # HTTP status (429, 418) -> responses seen
    used_weight_1m: int | None
    weight_seen_at: float | None  # epoch seconds of the response that reported it


def read_figures() -> BinanceFigures:
    raw = {
        key.decode(): value.decode()
        for key, value in redis_client(settings.REDIS_URL).hgetall(KEY).items()
    }
    weight = raw.get("used_weight_1m")
    seen_at = raw.get("weight_seen_at")
    return BinanceFigures(
        responses=int(raw.get("responses", 0)),
        rate_limited={code: int(raw.get(f"status_{code}", 0)) for code in RATE_LIMIT_CODES},
        used_weight_1m=int(weight) if weight is not None else None,
        weight_seen_at=float(seen_at) if seen_at is not None else None,
    )
