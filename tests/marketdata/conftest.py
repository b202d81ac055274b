"""Market-data fixtures: the fake Binance the sync talks to, and a sleep recorder."""

from __future__ import annotations

from collections.abc import Callable, Iterator

import pytest

from marketdata.binance_client import BinanceKlineClient
from tests.fakes.fake_binance import FakeBinance


@pytest.fixture
def fake_binance(fake_binance_server: FakeBinance, settings) -> Iterator[FakeBinance]:
    """The session's fake Binance, emptied, with python-binance pointed at it."""
    fake_binance_server.reset()
    settings.BINANCE_API_URL = fake_binance_server.api_url
    yield fake_binance_server
    fake_binance_server.reset()


@pytest.fixture
def sleeps() -> list[float]:
    """Every wait a test's Binance client asked for, in order (nothing really sleeps)."""
    return []


@pytest.fixture
def binance_client(
    fake_binance: FakeBinance, sleeps: list[float]
) -> Callable[..., BinanceKlineClient]:
    """Builds kline clients that reach the fake and record their sleeps instead of sleeping."""

    def make(**options) -> BinanceKlineClient:
        return BinanceKlineClient(sleep=sleeps.append, **options)

    return make
