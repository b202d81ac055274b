"""No N+1 queries: every list endpoint costs the same number of queries for 2 objects as
for 12, whoever asks (the owner, a viewer the objects are shared with through a group or
directly, an operator who sees everything).

Each test lists once to warm process-wide caches (content types), then counts the
queries of one request at the small size and one at the large size. The user is loaded
afresh for each request, so permission lookups are counted as a real request makes them.
"""

from __future__ import annotations

import itertools
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from decimal import Decimal

import pytest
from django.contrib.auth import get_user_model
from django.contrib.auth.models import Group
from django.db import connection
from django.test.utils import CaptureQueriesContext
from django.urls import reverse
from rest_framework.test import APIClient

from accounts import credentials, sharing, tokens
from accounts.sharing import grant_owner_permissions
from audit.events import record_event
from audit.models import SecurityAction
from backtest import services
from backtest.models import Backtest, RunStatus, Strategy, Sweep, Trade
from marketdata.models import CandleSeries, Symbol, SyncRun

pytestmark = pytest.mark.django_db

SMALL, LARGE = 2, 12
# One client for the module: a new one loads the middleware again (WhiteNoise indexes the
# static files), which costs more than the request.
_client = APIClient()
T0 = datetime(2024, 1, 1, tzinfo=UTC)
SMA_CROSS = {
    "entry_rules": {
        "long": {
            "left": {"indicator": "sma", "params": {"window": {"param": "fast"}}},
            "op": "crosses_above",
            "right": {"indicator": "sma", "params": {"window": {"param": "slow"}}},
        }
    },
    "config": {"parameters": {"fast": 5, "slow": 20}, "direction": "long"},
}


def get_list(user, url: str) -> tuple[CaptureQueriesContext, int]:
    """The queries one GET of `url` by `user` makes, and how many items it lists."""
    client = _client
    client.force_authenticate(get_user_model().objects.get(pk=user.pk))
    with CaptureQueriesContext(connection) as queries:
        response = client.get(url)
    assert response.status_code == 200, response.content[:300]
    body = response.json()
    items = body["results"] if isinstance(body, dict) else body
    return queries, len(items)


def assert_constant_queries(user, url: str, add: Callable[[int], None]) -> None:
    add(SMALL)
    _, before = get_list(user, url)  # warms process-wide caches
    small, small_count = get_list(user, url)
    add(LARGE - SMALL)
    large, large_count = get_list(user, url)
    assert small_count == before and large_count - small_count == LARGE - SMALL
    sql = "\n".join(q["sql"] for q in large.captured_queries)
    assert len(large) == len(small), (
        f"GET {url}: {len(small)} queries for {small_count} items, {len(large)} for "
        f"{large_count}:\n{sql}"
    )


@pytest.fixture
def people(make_user):
    """owner (analyst); viewer (viewer role, in the group "desk"); operator."""
    users = {
        "owner": make_user("owner", role="analyst"),
        "viewer": make_user("viewer", role="viewer"),
        "operator": make_user("operator", role="operator"),
    }
    desk = Group.objects.create(name="desk")
    users["viewer"].groups.add(desk)
    return users


def share_with_viewer(owner, objects) -> None:
    """Alternately with the viewer's group and with the viewer directly."""
    for index, obj in enumerate(objects):
        grantee = ("group", "desk") if index % 2 == 0 else ("user", "viewer")
        sharing.share(obj, grantee_type=grantee[0], grantee=grantee[1], actor=owner)


_serial = itertools.count()


def backtest_rows(owner, strategy, count: int, sweep: Sweep | None = None) -> list[Backtest]:
    rows = Backtest.objects.bulk_create(
        Backtest(
            owner=owner,
            strategy=strategy,
            sweep=sweep,
            strategy_snapshot={"name": strategy.name, **SMA_CROSS},
            symbol="BTCUSDT",
            timeframe="1h",
            initial_balance=Decimal(10000),
            final_balance=Decimal(10100),
            parameters={"fast": 5, "slow": 20},
            reproducibility_hash=f"{next(_serial):064d}",
            status=RunStatus.COMPLETED if i % 2 else RunStatus.QUEUED,
        )
        for i in range(count)
    )
    grant_owner_permissions(rows)  # bulk_create sends no post_save
    return rows


@pytest.fixture
def strategy(people) -> Strategy:
    return services.create_strategy(people["owner"], name="base", **SMA_CROSS)


WHO_SEES_SHARED = ("owner", "viewer", "operator")


@pytest.mark.parametrize("who", WHO_SEES_SHARED)
def test_strategy_list(people, who):
    owner = people["owner"]

    def add(count: int) -> None:
        made = [
            services.create_strategy(owner, name=f"s{next(_serial)}", **SMA_CROSS)
            for _ in range(count)
        ]
        share_with_viewer(owner, made)

    assert_constant_queries(people[who], reverse("strategy-list"), add)


@pytest.mark.parametrize("who", WHO_SEES_SHARED)
def test_backtest_list(people, strategy, who):
    """Standalone backtests and sweep cells (seen through the sweep's share)."""
    owner = people["owner"]

    def add(count: int) -> None:
        alone = backtest_rows(owner, strategy, count - count // 2)
        share_with_viewer(owner, alone)
        sweep = Sweep.objects.create(
            owner=owner, strategy=strategy, symbol="BTCUSDT", timeframe="1h", grid={}
        )
        backtest_rows(owner, strategy, count // 2, sweep=sweep)
        share_with_viewer(owner, [sweep])

    assert_constant_queries(people[who], reverse("backtest-list"), add)


@pytest.mark.parametrize("who", WHO_SEES_SHARED)
def test_sweep_list(people, strategy, who):
    owner = people["owner"]

    def add(count: int) -> None:
        sweeps = [
            Sweep.objects.create(
                owner=owner,
                strategy=strategy,
                symbol="BTCUSDT",
                timeframe="1h",
                grid={"fast": [5, 8]},
                status=RunStatus.QUEUED,
                cell_count=2,
            )
            for _ in range(count)
        ]
        for sweep in sweeps:
            backtest_rows(owner, strategy, 2, sweep=sweep)
        share_with_viewer(owner, sweeps)

    assert_constant_queries(people[who], reverse("sweep-list"), add)


@pytest.mark.parametrize("who", WHO_SEES_SHARED)
def test_backtest_trade_list(people, strategy, who):
    owner = people["owner"]
    [backtest] = backtest_rows(owner, strategy, 1)
    share_with_viewer(owner, [backtest])

    def add(count: int) -> None:
        Trade.objects.bulk_create(
            Trade(
                backtest=backtest,
                entry_time=T0 + timedelta(hours=next(_serial)),
                entry_price=Decimal(100),
                exit_time=T0 + timedelta(hours=next(_serial)),
                exit_price=Decimal(101),
                quantity=Decimal(1),
                side=Trade.Side.LONG,
                pnl=Decimal(1),
                pnl_percentage=Decimal(1),
            )
            for _ in range(count)
        )

    assert_constant_queries(people[who], reverse("backtest-trades", args=[backtest.pk]), add)


def test_credential_list(people):
    owner = people["owner"]

    def add(count: int) -> None:
        for _ in range(count):
            n = next(_serial)
            credentials.store_credential(
                owner,
                exchange="binance",
                label=f"key {n}",
                api_key=f"APIKEY{n:08d}",
                api_secret=f"secret-{n:08d}",
            )

    assert_constant_queries(owner, reverse("credential-list"), add)


def test_token_list(people):
    owner = people["owner"]

    def add(count: int) -> None:
        for _ in range(count):
            tokens.create_token(owner, f"token {next(_serial)}")

    assert_constant_queries(owner, reverse("token-list"), add)


def test_sync_run_list(people):
    requesters = [people["operator"], people["owner"], None]

    def add(count: int) -> None:
        symbols = Symbol.objects.bulk_create(
            Symbol(name=f"SYM{next(_serial)}USDT") for _ in range(count)
        )
        SyncRun.objects.bulk_create(
            SyncRun(
                symbol=symbol,
                timeframe="1h",
                start=T0,
                requested_by=requesters[i % len(requesters)],
            )
            for i, symbol in enumerate(symbols)
        )

    assert_constant_queries(people["operator"], reverse("marketdata-sync-runs"), add)


def test_audit_event_list(people):
    actors = [people["owner"], people["viewer"], None]

    def add(count: int) -> None:
        for i in range(count):
            record_event(
                SecurityAction.LOGIN_FAILED, actor=actors[i % len(actors)], detail={"n": i}
            )

    assert_constant_queries(people["operator"], reverse("audit-event-list"), add)


def test_symbol_list(people):
    def add(count: int) -> None:
        symbols = Symbol.objects.bulk_create(
            Symbol(name=f"SYM{next(_serial)}USDT") for _ in range(count)
        )
        CandleSeries.objects.bulk_create(
            CandleSeries(
                symbol=symbol,
                timeframe=timeframe,
                first_timestamp=T0,
                last_timestamp=T0 + timedelta(days=1),
                candle_count=24,
            )
            for symbol in symbols
            for timeframe in ("1h", "4h")
        )

    assert_constant_queries(people["viewer"], reverse("marketdata-symbols"), add)
