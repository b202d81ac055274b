"""Market-data fixtures: kline clients on the fake Binance (`fake_binance`, in
tests/conftest.py), a sleep recorder, and admin pages without a static manifest."""

from __future__ import annotations

from collections.abc import Callable

import pytest

from marketdata.binance_client import BinanceKlineClient
from tests.fakes.fake_binance import FakeBinance


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


@pytest.fixture
def admin_pages(settings) -> None:
    """Admin pages render without a collectstatic manifest (tests never run collectstatic)."""
    settings.STORAGES = {
        **settings.STORAGES,
        "staticfiles": {"BACKEND": "django.contrib.staticfiles.storage.StaticFilesStorage"},
    }
