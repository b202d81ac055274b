"""The backtest admin: what operators see and do, and that analysts stay out."""

from __future__ import annotations

import json
from datetime import UTC, datetime
from decimal import Decimal

import pytest
from django.contrib.auth.models import Permission
from django.test import Client

from audit.models import SecurityAction, SecurityEvent
from backtest.admin import EstimatedCountPaginator
from backtest.models import Backtest, PerformanceSummary, RunStatus, Strategy, Sweep, Trade
from backtest.selectors import manageable_backtests, visible_backtests
from backtest.strategy_templates import template_strategy

pytestmark = pytest.mark.django_db

ADMIN = "/admin/backtest"
SMA = template_strategy("sma_cross")


@pytest.fixture(autouse=True)
def _plain_static_files(settings):
    """The manifest storage needs `collectstatic`, which tests do not run."""
    settings.STORAGES = {
        **settings.STORAGES,
        "staticfiles": {"BACKEND": "django.contrib.staticfiles.storage.StaticFilesStorage"},
    }


@pytest.fixture
def operator_admin(client: Client, operator) -> Client:
    client.force_login(operator)
    return client


def make_strategy(owner, name: str = "my sma") -> Strategy:
    return Strategy.objects.create(
        owner=owner,
        name=name,
        entry_rules=SMA["entry_rules"],
        exit_rules=SMA["exit_rules"],
        config=SMA["config"],
    )


def make_backtest(owner, strategy: Strategy | None = None, **fields) -> Backtest:
    snapshot = {key: SMA[key] for key in ("entry_rules", "exit_rules", "config")}
    values = {
        "owner": owner,
        "strategy": strategy,
        "strategy_snapshot": {"name": strategy.name if strategy else SMA["name"], **snapshot},
        "symbol": "BTCUSDT",
        "timeframe": "1h",
        "start_time": datetime(2024, 1, 1, tzinfo=UTC),
        "end_time": datetime(2024, 2, 1, tzinfo=UTC),
        "initial_balance": Decimal("10000"),
        "parameters": {"parameters": {"fast": 10, "slow": 20}, "cash": 10000, "fee": 0.001},
        "reproducibility_hash": "a" * 64,
        **fields,
    }
    return Backtest.objects.create(**values)


def make_completed_run(owner, strategy: Strategy | None = None, **fields) -> Backtest:
    backtest = make_backtest(
        owner,
        strategy,
        status=RunStatus.COMPLETED,
        progress=100,
        final_balance=Decimal("10250.5"),
        **fields,
    )
    PerformanceSummary.objects.create(
        backtest=backtest,
        total_trades=2,
        winning_trades=1,
        losing_trades=1,
        total_pnl=Decimal("250.5"),
        metrics={"cagr": 0.12, "calmar_ratio": 1.5},
    )
    for day, pnl in ((2, "300.5"), (5, "-50")):
        Trade.objects.create(
            backtest=backtest,
            side=Trade.Side.LONG,
            entry_time=datetime(2024, 1, day, tzinfo=UTC),
            entry_price=Decimal("42000"),
            exit_time=datetime(2024, 1, day + 1, tzinfo=UTC),
            exit_price=Decimal("43000"),
            quantity=Decimal("0.2"),
            pnl=Decimal(pnl),
            exit_reason="signal",
        )
    return backtest


@pytest.fixture
def results(analyst) -> dict:
    """One of everything, owned by the analyst: a strategy, a finished run with its trades
    and summary, and a sweep with two cells."""
    strategy = make_strategy(analyst)
    backtest = make_completed_run(analyst, strategy)
    sweep = Sweep.objects.create(
        owner=analyst,
        strategy=strategy,
        name="fast grid",
        symbol="BTCUSDT",
        timeframe="1h",
        grid={"fast": [5, 10]},
        status=RunStatus.RUNNING,
        cell_count=2,
    )
    for fast in (5, 10):
        make_backtest(
            analyst,
            strategy,
            sweep=sweep,
            status=RunStatus.QUEUED,
            parameters={"parameters": {"fast": fast, "slow": 20}, "cash": 10000},
        )
    return {
        "strategy": strategy,
        "backtest": backtest,
        "trade": backtest.trades.first(),
        "sweep": sweep,
    }


def admin_pages(results: dict) -> list[str]:
    pages = []
    for model, obj in results.items():
        pages += [f"{ADMIN}/{model}/", f"{ADMIN}/{model}/{obj.pk}/change/"]
    return pages


def test_operators_open_every_list_and_page(operator_admin, results):
    for url in [*admin_pages(results), f"{ADMIN}/strategy/add/"]:
        response = operator_admin.get(url)
        assert response.status_code == 200, url

    index = operator_admin.get("/admin/").content.decode()
    # Summaries and equity curves are shown on their run's page and, since the
    # operations issue, listed on their own too (every model has an admin).
    for model in ("strategy", "backtest", "trade", "sweep", "performancesummary", "equitycurve"):
        assert f"{ADMIN}/{model}/" in index


def test_analysts_are_sent_to_the_admin_login(client, analyst, results):
    client.force_login(analyst)
    for url in [*admin_pages(results), f"{ADMIN}/backtest/{results['backtest'].pk}/permissions/"]:
        response = client.get(url)
        assert response.status_code == 302, url
        assert response.url.startswith("/admin/login/"), url


def test_backtest_page_is_read_only_and_shows_results(operator_admin, results):
    backtest = results["backtest"]
    url = f"{ADMIN}/backtest/{backtest.pk}/change/"

    response = operator_admin.get(url)

    page = response.content.decode()
    assert 'name="_save"' not in page
    assert backtest.strategy_snapshot["name"] in page
    assert "&quot;calmar_ratio&quot;: 1.5" in page  # metrics pretty-printed
    assert "250.5" in page  # the summary inline
    assert response.context["adminform"].form.instance.trades.count() == 2
    trades_url = f"{ADMIN}/trade/?backtest__id__exact={backtest.pk}"
    assert trades_url in page
    other = make_completed_run(results["strategy"].owner)
    trades = operator_admin.get(trades_url)
    assert {trade.backtest_id for trade in trades.context["cl"].result_list} == {backtest.pk}
    assert trades.context["cl"].result_count == 2 and other.trades.count() == 2

    edit = {"symbol": "ETHUSDT", "status": RunStatus.QUEUED}
    assert operator_admin.post(url, edit).status_code == 403
    delete = operator_admin.post(f"{ADMIN}/backtest/{backtest.pk}/delete/", {"post": "yes"})
    assert delete.status_code == 403
    backtest.refresh_from_db()
    assert (backtest.symbol, backtest.status) == ("BTCUSDT", RunStatus.COMPLETED)


def test_sweep_page_lists_its_cells(operator_admin, results):
    sweep = results["sweep"]

    response = operator_admin.get(f"{ADMIN}/sweep/{sweep.pk}/change/")

    page = response.content.decode()
    for cell in sweep.backtests.all():
        assert f"{ADMIN}/backtest/{cell.pk}/change/" in page
    assert "fast=5" in page and "fast=10" in page
    assert 'name="_save"' not in page


def test_trades_are_read_only(operator_admin, results):
    trade = results["trade"]
    listing = operator_admin.get(f"{ADMIN}/trade/")
    assert listing.context["cl"].result_count == 2
    assert operator_admin.get(f"{ADMIN}/trade/add/").status_code == 403
    assert operator_admin.post(f"{ADMIN}/trade/{trade.pk}/change/", {}).status_code == 403
    response = operator_admin.post(f"{ADMIN}/trade/{trade.pk}/delete/", {"post": "yes"})
    assert response.status_code == 403
    assert Trade.objects.count() == 2


# --- Strategies ----------------------------------------------------------------------


@pytest.fixture
def strategy_editor(client: Client, operator) -> Client:
    """An operator allowed to edit strategies (operators view them by default)."""
    operator.user_permissions.add(Permission.objects.get(codename="change_strategy"))
    client.force_login(operator)
    return client


def strategy_form(strategy: Strategy, **changes) -> dict:
    data = {
        "owner": strategy.owner_id,
        "name": strategy.name,
        "description": strategy.description,
        "entry_rules": json.dumps(strategy.entry_rules),
        "exit_rules": json.dumps(strategy.exit_rules),
        "config": json.dumps(strategy.config),
        "is_active": "on",
    }
    data.update(changes)
    return data


def test_strategy_form_rejects_bad_rules_naming_the_path_and_saves_nothing(
    strategy_editor, analyst
):
    strategy = make_strategy(analyst)
    url = f"{ADMIN}/strategy/{strategy.pk}/change/"
    bad_entry = {**SMA["entry_rules"]}
    bad_entry["long"] = {**bad_entry["long"], "left": {"indicator": "sma", "params": {"window": 0}}}
    bad_config = {**SMA["config"], "fee": 2}

    response = strategy_editor.post(
        url,
        strategy_form(
            strategy,
            name="renamed",
            entry_rules=json.dumps(bad_entry),
            config=json.dumps(bad_config),
        ),
    )

    assert response.status_code == 200
    errors = response.context["adminform"].form.errors
    assert any("entry_rules.long.left.params.window" in error for error in errors["entry_rules"])
    assert [error.split(" ", 1)[0] for error in errors["config"]] == ["config.fee"]
    assert "exit_rules" not in errors
    strategy.refresh_from_db()
    assert strategy.name == "my sma"
    assert strategy.entry_rules == SMA["entry_rules"] and strategy.config == SMA["config"]


def test_strategy_form_saves_valid_rules_and_reports_broken_json(strategy_editor, analyst):
    strategy = make_strategy(analyst)
    url = f"{ADMIN}/strategy/{strategy.pk}/change/"
    page = strategy_editor.get(url).content.decode()
    assert "&quot;indicator&quot;: &quot;sma&quot;" in page  # rules shown indented
    assert "\n  &quot;long&quot;" in page

    broken = strategy_editor.post(url, strategy_form(strategy, exit_rules="{nope"))
    assert "exit_rules" in broken.context["adminform"].form.errors

    slower = {**SMA["config"], "parameters": {"fast": 10, "slow": 50}}
    saved = strategy_editor.post(url, strategy_form(strategy, config=json.dumps(slower)))
    assert saved.status_code == 302
    strategy.refresh_from_db()
    assert strategy.config["parameters"]["slow"] == 50


def test_strategy_name_stays_unique_per_owner(strategy_editor, analyst):
    make_strategy(analyst, "taken")
    strategy = make_strategy(analyst)
    url = f"{ADMIN}/strategy/{strategy.pk}/change/"
    response = strategy_editor.post(url, strategy_form(strategy, name="taken"))
    assert response.status_code == 200
    assert response.context["adminform"].form.non_field_errors()
    assert Strategy.objects.filter(name="taken").count() == 1


# --- Actions -------------------------------------------------------------------------


def run_action(client: Client, model: str, action: str, objects) -> list[str]:
    response = client.post(
        f"{ADMIN}/{model}/",
        {"action": action, "_selected_action": [obj.pk for obj in objects]},
        follow=True,
    )
    assert response.status_code == 200
    return [str(message) for message in response.context["messages"]]


def test_rerun_queues_a_copy_for_the_original_owner(
    operator_admin, analyst, results, django_capture_on_commit_callbacks
):
    original = results["backtest"]

    with django_capture_on_commit_callbacks(execute=False) as sends:
        shown = run_action(operator_admin, "backtest", "rerun", [original])

    copy = Backtest.objects.exclude(pk=original.pk).get(sweep=None)
    assert shown == [f"Queued 1 re-run(s): #{copy.pk}."]
    assert copy.status == RunStatus.QUEUED and copy.queued_at is not None
    assert copy.owner == analyst  # not the operator who clicked
    assert copy.strategy_snapshot == original.strategy_snapshot
    assert copy.parameters == original.parameters
    assert copy.reproducibility_hash == original.reproducibility_hash
    assert (copy.start_time, copy.end_time) == (original.start_time, original.end_time)
    assert copy.metadata == {"rerun_of": original.pk}
    assert len(sends) == 1  # the Celery task, sent once the transaction commits


def test_cancel_stops_unfinished_runs_and_reports_finished_ones(operator_admin, analyst):
    queued = make_backtest(analyst, status=RunStatus.QUEUED)
    running = make_backtest(analyst, status=RunStatus.RUNNING, progress=40)
    done = make_completed_run(analyst)

    shown = run_action(operator_admin, "backtest", "cancel", [queued, running, done])

    assert shown == ["2 cancelled, 1 already finished."]
    statuses = dict(Backtest.objects.values_list("pk", "status"))
    assert statuses == {
        queued.pk: RunStatus.CANCELLED,
        running.pk: RunStatus.CANCELLED,
        done.pk: RunStatus.COMPLETED,
    }
    assert run_action(operator_admin, "backtest", "cancel", [done]) == [
        "0 cancelled, 1 already finished."
    ]


def test_cancel_sweep_cancels_its_unfinished_cells(operator_admin, results):
    sweep = results["sweep"]

    shown = run_action(operator_admin, "sweep", "cancel", [sweep])

    assert shown == ["1 cancelled."]
    sweep.refresh_from_db()
    assert sweep.status == RunStatus.CANCELLED
    assert set(sweep.backtests.values_list("status", flat=True)) == {RunStatus.CANCELLED}
    assert Backtest.objects.get(pk=results["backtest"].pk).status == RunStatus.COMPLETED


def test_backtest_list_queries_do_not_grow_with_runs(
    operator_admin, analyst, django_assert_max_num_queries
):
    make_completed_run(analyst)
    with django_assert_max_num_queries(100) as few:
        operator_admin.get(f"{ADMIN}/backtest/")
    for _ in range(19):
        make_completed_run(analyst)

    with django_assert_max_num_queries(len(few.captured_queries)):
        response = operator_admin.get(f"{ADMIN}/backtest/")

    assert response.context["cl"].result_count == 20
    found = operator_admin.get(f"{ADMIN}/backtest/?q=crossover")  # the snapshot's name
    assert found.context["cl"].result_count == 20
    assert (
        operator_admin.get(f"{ADMIN}/backtest/?q=nothing-like-it").context["cl"].result_count == 0
    )


# --- Sharing -------------------------------------------------------------------------


def test_operators_share_a_run_through_the_sharing_service(operator_admin, make_user, results):
    backtest = results["backtest"]
    colleague = make_user("col", role="analyst")
    assert not visible_backtests(colleague).filter(pk=backtest.pk).exists()
    url = f"{ADMIN}/backtest/{backtest.pk}/permissions/user-manage/{colleague.pk}/"

    page = operator_admin.get(url)
    choices = page.context["form"].fields["permissions"].choices
    assert sorted(codename for codename, _ in choices) == ["change_backtest", "view_backtest"]
    shared = operator_admin.post(url, {"permissions": ["view_backtest"]})

    assert shared.status_code == 302
    assert visible_backtests(colleague).filter(pk=backtest.pk).exists()
    assert not manageable_backtests(colleague).filter(pk=backtest.pk).exists()
    granted = SecurityEvent.objects.get(action=SecurityAction.SHARE_GRANTED)
    assert granted.actor_username == "ops" and granted.target_id == str(backtest.pk)
    assert granted.detail == {"grantee_type": "user", "grantee": "col", "permission": "view"}

    operator_admin.post(url, {"permissions": ["change_backtest"]})  # change implies view
    assert manageable_backtests(colleague).filter(pk=backtest.pk).exists()
    # Nothing ticked: a browser still posts its CSRF token (guardian ignores empty posts).
    operator_admin.post(url, {"csrfmiddlewaretoken": "posted-by-the-browser"})
    assert not visible_backtests(colleague).filter(pk=backtest.pk).exists()
    assert SecurityEvent.objects.filter(action=SecurityAction.SHARE_REVOKED).count() == 1

    owner_url = f"{ADMIN}/backtest/{backtest.pk}/permissions/user-manage/{backtest.owner_id}/"
    refused = operator_admin.post(owner_url, {"permissions": ["view_backtest"]})
    assert refused.status_code == 200 and "already has every permission" in refused.content.decode()


def test_sweep_and_run_pages_link_to_sharing(operator_admin, results):
    for model in ("backtest", "sweep"):
        obj = results[model]
        page = operator_admin.get(f"{ADMIN}/{model}/{obj.pk}/change/").content.decode()
        assert f"{ADMIN}/{model}/{obj.pk}/permissions/" in page
        assert operator_admin.get(f"{ADMIN}/{model}/{obj.pk}/permissions/").status_code == 200


# --- Paginator -----------------------------------------------------------------------


def test_unfiltered_trade_pages_use_the_planner_estimate_past_the_threshold(results):
    from django.db import connection

    with connection.cursor() as cursor:
        cursor.execute(f"ANALYZE {Trade._meta.db_table}")

    class TinyThreshold(EstimatedCountPaginator):
        exact_count_below = 1

    make_completed_run(results["backtest"].owner)  # two trades the estimate has not seen

    everything = TinyThreshold(Trade.objects.all(), 10)
    one_run = TinyThreshold(Trade.objects.filter(backtest=results["backtest"]), 10)
    default = EstimatedCountPaginator(Trade.objects.all(), 10)

    assert everything.count == 2  # the estimate from the last ANALYZE
    assert one_run.count == 2  # filtered: counted exactly
    assert default.count == 4  # small tables are counted exactly
