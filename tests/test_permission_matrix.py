"""Who may call what: every API route and method, called by five clients, with the exact
status code each one must get.

The clients:
- owner:     an analyst who owns every object in the world below;
- viewer:    a user with the viewer role; the owner's strategy, completed backtest,
             queued backtest and sweep are shared with them for "view";
- stranger:  an analyst with no relation to the owner's objects;
- operator:  the operator role (sees and manages every run, never others' secrets);
- anonymous: no credentials at all.

The rules the table spells out:
- 401: no credentials (the API answers with a "Token" challenge, not 403);
- 404: an object the client cannot see, exactly as if it did not exist;
- 403: the client may see the object (or the route), but not do this;
- credentials and tokens are their owner's alone, operators included.

Each (route, method, client) is its own test on a fresh database, so a DELETE or a
cancel cannot change what the next case sees. `test_the_matrix_covers_every_api_route`
fails when a route or a method under /api/ is missing from the table: a new endpoint
joins the matrix before it ships.
"""

from __future__ import annotations

import json
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime
from functools import cached_property
from io import BytesIO
from typing import Any

import pytest
from django.contrib.auth import get_user_model
from django.contrib.auth.models import Group
from django.core.files.uploadedfile import SimpleUploadedFile
from django.urls import URLPattern, URLResolver, get_resolver, reverse
from rest_framework.test import APIClient

from accounts import credentials, sharing, tokens
from accounts.roles import STAFF_ROLES, Role
from accounts.services import role_of
from backtest import paper, services
from backtest.execution import execute_backtest
from backtest.models import Backtest, PaperSession, RunStatus, Strategy, Sweep
from marketdata.models import CandleSeries, SyncRun
from marketdata.services import create_sync_run, import_candles
from replay import runs
from replay.imports import import_file
from replay.models import ImportBatch, ReplayRun, TransactionHistory
from tests.backtest.api.conftest import SMA_CROSS

CLIENTS = ("owner", "viewer", "stranger", "operator", "anonymous")
METHODS = ("get", "post", "put", "patch", "delete")

# --- Data ------------------------------------------------------------------------------

T0 = datetime(2024, 1, 1, tzinfo=UTC)
HOUR_MS = 3_600_000


def klines(count: int, start: datetime = T0) -> bytes:
    """Hourly Binance klines (CSV) whose close zigzags with a period of 40 bars, so a
    5/20 moving-average cross trades several times in a few hundred bars."""
    t0 = int(start.timestamp() * 1000)
    rows = []
    for k in range(count):
        phase = k % 40
        close = 100 + (phase if phase < 20 else 40 - phase)
        open_ = close - 0.5 if phase < 20 else close + 0.5
        t = t0 + k * HOUR_MS
        rows.append(
            f"{t},{open_},{max(open_, close) + 1},{min(open_, close) - 1},{close},10.0,"
            f"{t + HOUR_MS - 1},{10 * close},100,5.0,{5 * close},0\n"
        )
    return "".join(rows).encode()


TEMPLATE_RUN = {"template": "sma_cross", "params": {"fast": 5, "slow": 20}}


# One client for the module, signed in anew for each request: a new client loads the
# middleware again (WhiteNoise indexes the static files), which costs more than most cases.
_client = APIClient()


class World:
    """The four signed-in users, and the owner's objects, each made on first use (a case
    builds only what its URL and body need, which keeps the 260 cases fast)."""

    ROLES = {"owner": "analyst", "viewer": "viewer", "stranger": "analyst", "operator": "operator"}

    def __init__(self) -> None:
        self.users = self._make_users()
        self.owner = self.users["owner"]

    def _make_users(self) -> dict[str, Any]:
        """The users, in three queries: what `accounts.services.set_role` leaves (the role's
        group; staff for operators) without its per-user queries and audit event, which
        would dominate 260 short tests. `test_the_world_is_what_the_matrix_says` checks
        the roles with `role_of`."""
        User = get_user_model()
        users = User.objects.bulk_create(
            User(username=name, is_staff=Role(role) in STAFF_ROLES, password="!")
            for name, role in self.ROLES.items()
        )
        groups = {g.name: g for g in Group.objects.filter(name__in=self.ROLES.values())}
        User.groups.through.objects.bulk_create(
            User.groups.through(user_id=user.pk, group_id=groups[self.ROLES[user.username]].pk)
            for user in users
        )
        return {user.username: user for user in users}

    def client(self, who: str) -> APIClient:
        _client.cookies.clear()
        _client.force_authenticate(None if who == "anonymous" else self.users[who])
        return _client

    def _share_with_viewer(self, obj: Any) -> None:
        sharing.share(obj, grantee_type="user", grantee="viewer", actor=self.owner)

    @cached_property
    def series(self) -> CandleSeries:
        """BTCUSDT 1h from binance: 120 bars from 2024-01-01."""
        import_candles(BytesIO(klines(120)), symbol="BTCUSDT", timeframe="1h")
        return CandleSeries.objects.select_related("symbol").get(
            symbol__name="BTCUSDT", timeframe="1h"
        )

    @cached_property
    def strategy(self) -> Strategy:
        """Private (not public) and shared with the viewer for view."""
        strategy = services.create_strategy(self.owner, name="Private SMA", **SMA_CROSS)
        self._share_with_viewer(strategy)
        return strategy

    def _run_request(self) -> services.BacktestRequest:
        assert self.series
        return services.BacktestRequest(strategy=self.strategy, symbol="BTCUSDT", timeframe="1h")

    @cached_property
    def backtest(self) -> Backtest:
        """Completed, with trades and an equity curve; shared with the viewer."""
        backtest = services.submit_backtest(self.owner, self._run_request())
        execute_backtest(backtest.pk, respect_user_limit=False)
        backtest.refresh_from_db()
        assert backtest.status == RunStatus.COMPLETED, backtest.error
        assert backtest.trades.exists()
        self._share_with_viewer(backtest)
        return backtest

    @cached_property
    def queued_backtest(self) -> Backtest:
        """Queued (its task is never sent: the test's transaction never commits)."""
        backtest = services.submit_backtest(self.owner, self._run_request())
        self._share_with_viewer(backtest)
        return backtest

    @cached_property
    def sweep(self) -> Sweep:
        """Two queued cells; shared with the viewer."""
        sweep = services.submit_sweep(self.owner, self._run_request(), {"fast": [5, 8]})
        self._share_with_viewer(sweep)
        return sweep

    @cached_property
    def credential(self):
        return credentials.store_credential(
            self.owner,
            exchange="binance",
            label="main",
            api_key="OWNERKEY0001",
            api_secret="owner-secret-0001",
        )

    @cached_property
    def token(self):
        return tokens.create_token(self.owner, "owner's script")[0]

    @cached_property
    def import_batch(self) -> ImportBatch:
        """The owner's import of two fills; shared with the viewer."""
        batch = import_file(self.owner, BytesIO(GENERIC_FILLS), file_name="fills.csv")
        self._share_with_viewer(batch)
        return batch

    @cached_property
    def transaction(self) -> TransactionHistory:
        """A fill of the shared import."""
        return self.import_batch.transactions.order_by("id").first()

    @cached_property
    def replay_run(self) -> ReplayRun:
        """A queued replay of the owner's fills (never sent); shared with the viewer."""
        assert self.transaction
        run = runs.submit_replay(self.owner, runs.ReplayRequest(symbol="BTCUSDT"))
        self._share_with_viewer(run)
        return run

    @cached_property
    def paper_session(self) -> PaperSession:
        """The owner's running paper session on the series (not shared: none are)."""
        assert self.series
        return paper.start_session(self.owner, self._run_request())

    @cached_property
    def sync_run(self) -> SyncRun:
        return create_sync_run("BTCUSDT", "1h", T0, user=self.users["operator"])


# Which object of the world a route's URL names.
TARGETS: dict[str, Callable[[World], list]] = {
    "series": lambda w: [w.series.symbol.name, w.series.timeframe],
    "strategy": lambda w: [w.strategy.pk],
    "backtest": lambda w: [w.backtest.pk],
    "queued_backtest": lambda w: [w.queued_backtest.pk],
    "sweep": lambda w: [w.sweep.pk],
    "credential": lambda w: [w.credential.pk],
    "token": lambda w: [w.token.pk],
    "sync_run": lambda w: [w.sync_run.pk],
    "import_batch": lambda w: [w.import_batch.pk],
    "transaction": lambda w: [w.transaction.pk],
    "replay_run": lambda w: [w.replay_run.pk],
    "paper_session": lambda w: [w.paper_session.pk],
}

# --- Request bodies (callables take the world: a body may need candles or a file) ------

NEW_STRATEGY = {"name": "Fresh SMA", **SMA_CROSS}
RENAMED_STRATEGY = {"name": "Renamed SMA", **SMA_CROSS}
PATCHED_STRATEGY = {"description": "patched"}
FROM_TEMPLATE = {**TEMPLATE_RUN, "name": "From template"}
NEW_CREDENTIAL = {
    "exchange": "binance_testnet",
    "label": "testnet",
    "api_key": "TESTKEY00001",
    "api_secret": "test-secret-0001",
}
NEW_TOKEN = {"name": "ci"}
SHARE_WITH_OPERATOR = {"grantee_type": "user", "grantee": "operator", "permission": "view"}
UNSHARE_VIEWER = "grantee_type=user&grantee=viewer"
SYNC_REQUEST = {"symbol": "BTCUSDT", "timeframe": "1h", "start": "2024-01-01T00:00:00Z"}


def candle_file(w: World) -> dict:
    return {
        "file": SimpleUploadedFile("ethusdt-1h.csv", klines(24), content_type="text/csv"),
        "symbol": "ETHUSDT",
        "timeframe": "1h",
    }


GENERIC_FILLS = (
    b"time,symbol,side,price,quantity,fee,fee_asset,type,id\n"
    b"2024-01-01T10:00:00Z,BTCUSDT,buy,43000.5,0.01,0.043,USDT,limit,T-1\n"
    b"2024-01-01T11:00:00Z,BTCUSDT,sell,43100,0.01,0.0431,USDT,market,T-2\n"
)


def fills_file(w: World) -> dict:
    return {"file": SimpleUploadedFile("fills.csv", GENERIC_FILLS, content_type="text/csv")}


def fetch_request(w: World) -> dict:
    """The owner's credential: others name a credential that is not theirs (400)."""
    return {"credential": w.credential.pk, "symbols": ["BTCUSDT"]}


def replay_request(w: World) -> dict:
    """The owner's fills exist; others own none, so theirs select nothing (400)."""
    assert w.transaction
    return {"symbol": "BTCUSDT", "timeframe": "1h", "fill": "close"}


def backtest_request(w: World) -> dict:
    return {**TEMPLATE_RUN, "symbol": w.series.symbol.name, "timeframe": "1h"}


def sweep_request(w: World) -> dict:
    return {**backtest_request(w), "grid": {"fast": [5, 8]}, "name": "fast windows"}


# --- The matrix ------------------------------------------------------------------------


@dataclass(frozen=True)
class Case:
    route: str  # URL name
    method: str
    target: str | None  # key of TARGETS, None for a route without arguments
    owner: int
    viewer: int
    stranger: int
    operator: int
    anonymous: int
    body: dict | Callable[[World], dict] | None = None
    query: str = ""
    multipart: bool = False
    worker: bool = False  # needs a live Celery worker (health)

    def expected(self, who: str) -> int:
        return getattr(self, who)

    def url(self, world: World) -> str:
        args = TARGETS[self.target](world) if self.target else []
        url = reverse(self.route, args=args)
        return f"{url}?{self.query}" if self.query else url


C = Case
# fmt: off
MATRIX: tuple[Case, ...] = (
    # route                    method    target             own  view strg ops  anon
    # (own: owner, view: shared viewer, strg: unrelated analyst, ops: operator)
    # Discovery: public.
    C("api-root",              "get",    None,              200, 200, 200, 200, 200),
    C("health",                "get",    None,              200, 200, 200, 200, 200, worker=True),
    C("api-schema",            "get",    None,              200, 200, 200, 200, 200),
    C("api-docs",              "get",    None,              200, 200, 200, 200, 200),
    # Market data: reading is for every signed-in user; importing takes the analyst's
    # permission; syncs and their runs are operational (operators only).
    C("marketdata-symbols",    "get",    None,              200, 200, 200, 200, 401),
    C("marketdata-timeframes", "get",    None,              200, 200, 200, 200, 401),
    C("marketdata-candles",    "get",    "series",          200, 200, 200, 200, 401),
    C("marketdata-import",     "post",   None,              201, 403, 201, 201, 401,
      body=candle_file, multipart=True),
    C("marketdata-sync",       "post",   None,              403, 403, 403, 202, 401,
      body=SYNC_REQUEST),
    C("marketdata-sync-runs",  "get",    None,              403, 403, 403, 200, 401),
    C("marketdata-sync-run",   "get",    "sync_run",        403, 403, 403, 200, 401),
    C("marketdata-sync-run-cancel", "post", "sync_run",     403, 403, 403, 200, 401),
    # The audit trail: operators only.
    C("audit-event-list",      "get",    None,              403, 403, 403, 200, 401),
    # Exchange credentials: each user's own, nobody else's (operators included); viewers
    # keep no exchange keys.
    C("credential-list",       "get",    None,              200, 200, 200, 200, 401),
    C("credential-list",       "post",   None,              201, 403, 201, 201, 401,
      body=NEW_CREDENTIAL),
    C("credential-detail",     "get",    "credential",      200, 404, 404, 404, 401),
    C("credential-detail",     "delete", "credential",      204, 404, 404, 404, 401),
    C("credential-check",      "post",   "credential",      202, 404, 404, 404, 401),
    # API tokens: each user's own; every signed-in user may make one.
    C("token-list",            "get",    None,              200, 200, 200, 200, 401),
    C("token-list",            "post",   None,              201, 201, 201, 201, 401,
      body=NEW_TOKEN),
    C("token-detail",          "delete", "token",           204, 404, 404, 404, 401),
    # Strategies: creating takes the analyst's permission; changing, the owner or a
    # "change" share or the operator; deleting, the owner alone.
    C("strategy-list",         "get",    None,              200, 200, 200, 200, 401),
    C("strategy-list",         "post",   None,              201, 403, 201, 201, 401,
      body=NEW_STRATEGY),
    C("strategy-validate",     "post",   None,              200, 200, 200, 200, 401,
      body=SMA_CROSS),
    C("strategy-templates",    "get",    None,              200, 200, 200, 200, 401),
    C("indicator-catalogue",   "get",    None,              200, 200, 200, 200, 401),
    C("strategy-from-template", "post",  None,              201, 403, 201, 201, 401,
      body=FROM_TEMPLATE),
    C("strategy-detail",       "get",    "strategy",        200, 200, 404, 200, 401),
    C("strategy-detail",       "put",    "strategy",        200, 403, 404, 200, 401,
      body=RENAMED_STRATEGY),
    C("strategy-detail",       "patch",  "strategy",        200, 403, 404, 200, 401,
      body=PATCHED_STRATEGY),
    C("strategy-detail",       "delete", "strategy",        204, 403, 404, 403, 401),
    # Shares: the owner and operators (who administer every object) manage them.
    C("strategy-shares",       "get",    "strategy",        200, 403, 404, 200, 401),
    C("strategy-shares",       "post",   "strategy",        201, 403, 404, 201, 401,
      body=SHARE_WITH_OPERATOR),
    C("strategy-shares",       "delete", "strategy",        204, 403, 404, 204, 401,
      query=UNSHARE_VIEWER),
    # Backtests: running takes the analyst's permission; cancelling and re-running,
    # the owner or a "change" share or the operator.
    C("backtest-list",         "get",    None,              200, 200, 200, 200, 401),
    C("backtest-list",         "post",   None,              202, 403, 202, 202, 401,
      body=backtest_request),
    C("backtest-detail",       "get",    "backtest",        200, 200, 404, 200, 401),
    C("backtest-trades",       "get",    "backtest",        200, 200, 404, 200, 401),
    C("backtest-equity",       "get",    "backtest",        200, 200, 404, 200, 401),
    C("backtest-report-csv",   "get",    "backtest",        200, 200, 404, 200, 401),
    C("backtest-report-json",  "get",    "backtest",        200, 200, 404, 200, 401),
    C("backtest-cancel",       "post",   "queued_backtest", 200, 403, 404, 200, 401),
    C("backtest-rerun",        "post",   "backtest",        202, 403, 404, 202, 401),
    C("backtest-shares",       "get",    "backtest",        200, 403, 404, 200, 401),
    C("backtest-shares",       "post",   "backtest",        201, 403, 404, 201, 401,
      body=SHARE_WITH_OPERATOR),
    C("backtest-shares",       "delete", "backtest",        204, 403, 404, 204, 401,
      query=UNSHARE_VIEWER),
    # Sweeps: like backtests.
    C("sweep-list",            "get",    None,              200, 200, 200, 200, 401),
    C("sweep-list",            "post",   None,              202, 403, 202, 202, 401,
      body=sweep_request),
    C("sweep-detail",          "get",    "sweep",           200, 200, 404, 200, 401),
    C("sweep-cancel",          "post",   "sweep",           200, 403, 404, 200, 401),
    C("sweep-shares",          "get",    "sweep",           200, 403, 404, 200, 401),
    C("sweep-shares",          "post",   "sweep",           201, 403, 404, 201, 401,
      body=SHARE_WITH_OPERATOR),
    C("sweep-shares",          "delete", "sweep",           204, 403, 404, 204, 401,
      query=UNSHARE_VIEWER),
    # Transactions: reading over the selectors (an import shared with the viewer shows
    # its fills); deleting a fill is its owner's; importing takes the analyst role.
    C("transaction-list",      "get",    None,              200, 200, 200, 200, 401),
    C("transaction-detail",    "get",    "transaction",     200, 200, 404, 200, 401),
    C("transaction-detail",    "delete", "transaction",     204, 403, 404, 403, 401),
    C("transaction-upload",    "post",   None,              201, 403, 201, 201, 401,
      body=fills_file, multipart=True),
    C("transaction-fetch",     "post",   None,              202, 403, 400, 400, 401,
      body=fetch_request),
    C("transaction-summary",   "get",    None,              200, 200, 200, 200, 401),
    C("import-batch-list",     "get",    None,              200, 200, 200, 200, 401),
    C("import-batch-detail",   "get",    "import_batch",    200, 200, 404, 200, 401),
    C("import-batch-shares",   "get",    "import_batch",    200, 403, 404, 200, 401),
    C("import-batch-shares",   "post",   "import_batch",    201, 403, 404, 201, 401,
      body=SHARE_WITH_OPERATOR),
    C("import-batch-shares",   "delete", "import_batch",    204, 403, 404, 204, 401,
      query=UNSHARE_VIEWER),
    # Replays: of one's own fills only (a fill one can see but not own: 403). Against a
    # backtest: any one can see; the operator owns no fills in its period (400).
    C("backtest-replay",       "post",   "backtest",        202, 403, 404, 400, 401,
      body=replay_request),
    C("transaction-replay",    "post",   "transaction",     202, 403, 404, 403, 401),
    C("replay-list",           "get",    None,              200, 200, 200, 200, 401),
    C("replay-list",           "post",   None,              202, 403, 400, 400, 401,
      body=replay_request),
    C("replay-detail",         "get",    "replay_run",      200, 200, 404, 200, 401),
    C("replay-executions",     "get",    "replay_run",      200, 200, 404, 200, 401),
    C("replay-cancel",         "post",   "replay_run",      200, 403, 404, 200, 401),
    C("replay-shares",         "get",    "replay_run",      200, 403, 404, 200, 401),
    C("replay-shares",         "post",   "replay_run",      201, 403, 404, 201, 401,
      body=SHARE_WITH_OPERATOR),
    C("replay-shares",         "delete", "replay_run",      204, 403, 404, 204, 401,
      query=UNSHARE_VIEWER),
    # Paper sessions: starting takes the analyst's permission; a session is its owner's
    # (not shareable), operators see and stop all; the kill switch is operators' alone
    # (the owner sees the session: 403; others do not: 404).
    C("paper-session-list",    "get",    None,              200, 200, 200, 200, 401),
    C("paper-session-list",    "post",   None,              201, 403, 201, 201, 401,
      body=backtest_request),
    C("paper-session-detail",  "get",    "paper_session",   200, 404, 404, 200, 401),
    C("paper-session-stop",    "post",   "paper_session",   200, 404, 404, 200, 401),
    C("paper-session-kill",    "post",   "paper_session",   403, 404, 404, 200, 401),
    C("paper-session-kill-all", "post",  None,              403, 403, 403, 200, 401),
)
# fmt: on


def call(world: World, who: str, case: Case):
    client = world.client(who)
    url = case.url(world)
    body = case.body(world) if callable(case.body) else case.body
    send = getattr(client, case.method)
    if case.method == "get":
        return send(url)
    if case.multipart:
        return send(url, body, format="multipart")
    return send(url, body, format="json") if body is not None else send(url)


def _params():
    for case in MATRIX:
        marks = [pytest.mark.celery_worker] if case.worker else []
        for who in CLIENTS:
            yield pytest.param(case, who, id=f"{case.route}-{case.method}-{who}", marks=marks)


@pytest.fixture
def world(db) -> World:
    return World()


@pytest.mark.django_db
@pytest.mark.parametrize(("case", "who"), list(_params()))
def test_permission_matrix(request, world, case: Case, who: str):
    if case.worker:
        request.getfixturevalue("celery_worker")
    response = call(world, who, case)
    expected = case.expected(who)
    assert response.status_code == expected, (
        f"{case.method.upper()} {case.url(world)} as {who}: expected {expected}, got "
        f"{response.status_code}: {_excerpt(response)}"
    )


def _excerpt(response) -> str:
    if getattr(response, "streaming", False):
        return "<streamed>"
    return response.content[:300].decode(errors="replace")


# --- Every route is in the matrix -------------------------------------------------------


def api_routes() -> set[tuple[str | None, str]]:
    """(URL name, method) of every route under /api/, for each HTTP method its view
    implements (OPTIONS and HEAD aside)."""
    found: set[tuple[str | None, str]] = set()

    def walk(patterns, prefix: str) -> None:
        for pattern in patterns:
            if isinstance(pattern, URLResolver):
                walk(pattern.url_patterns, prefix + str(pattern.pattern))
                continue
            assert isinstance(pattern, URLPattern)
            if not (prefix + str(pattern.pattern)).startswith("api/"):
                continue
            view = getattr(pattern.callback, "view_class", None)
            if view is None:  # a function view: the matrix cannot know its methods
                found.add((pattern.name, "<function view>"))
                continue
            for method in METHODS:
                if method in view.http_method_names and hasattr(view, method):
                    found.add((pattern.name, method))

    walk(get_resolver().url_patterns, "")
    return found


def test_the_matrix_covers_every_api_route():
    in_matrix = [(case.route, case.method) for case in MATRIX]
    assert len(in_matrix) == len(set(in_matrix)), "a (route, method) is in the matrix twice"
    routes = api_routes()
    missing = sorted(routes - set(in_matrix), key=str)
    stale = sorted(set(in_matrix) - routes, key=str)
    assert not missing, f"API routes missing from the permission matrix: {missing}"
    assert not stale, f"the permission matrix names routes that do not exist: {stale}"


# --- Another user's object looks like no object -----------------------------------------

NOT_YOURS = [
    ("strategy-detail", "get", "strategy", "stranger"),
    ("strategy-shares", "get", "strategy", "stranger"),
    ("backtest-detail", "get", "backtest", "stranger"),
    ("backtest-report-csv", "get", "backtest", "stranger"),
    ("sweep-detail", "get", "sweep", "stranger"),
    ("credential-detail", "get", "credential", "operator"),
    ("credential-check", "post", "credential", "stranger"),
    ("token-detail", "delete", "token", "operator"),
]


@pytest.mark.django_db
@pytest.mark.parametrize(("route", "method", "target", "who"), NOT_YOURS)
def test_another_users_object_answers_like_one_that_does_not_exist(
    world, route, method, target, who
):
    existing = TARGETS[target](world)[0]
    client = world.client(who)
    send = getattr(client, method)
    theirs = send(reverse(route, args=[existing]))
    nobodys = send(reverse(route, args=[existing + 1_000_000]))
    assert theirs.status_code == nobodys.status_code == 404
    assert json.loads(theirs.content) == json.loads(nobodys.content)
    assert theirs.headers.get("Content-Type") == nobodys.headers.get("Content-Type")


# --- Sanity of the world itself ---------------------------------------------------------


@pytest.mark.django_db
def test_the_world_is_what_the_matrix_says(world):
    """The matrix's columns rely on these roles and shares (and nothing more)."""
    for who, role in World.ROLES.items():
        assert role_of(world.users[who]) == role
    viewer = world.users["viewer"]
    for obj in (world.strategy, world.backtest, world.queued_backtest, world.sweep):
        assert sharing.shares_of(obj) == [
            sharing.Share(sharing.GranteeType.USER, "viewer", sharing.Level.VIEW)
        ]
    assert not world.strategy.is_public
    assert not viewer.has_perm("backtest.add_backtest")
