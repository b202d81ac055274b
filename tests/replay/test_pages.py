"""The transactions and replay pages through Django's test client: sign-in required,
others' replays and backtests are 404, and the controls follow the role."""

import pytest
from django.urls import reverse

from backtest.models import RunStatus
from replay.models import ReplayRun
from tests.replay.replay_helpers import T0, flat_candles, make_backtest, make_fills

pytestmark = pytest.mark.django_db


def make_run(owner, **fields) -> ReplayRun:
    values = {"symbol": "BTCUSDT", "timeframe": "1m", "status": RunStatus.QUEUED}
    return ReplayRun.objects.create(owner=owner, **{**values, **fields})


def page_of(client, user, url: str):
    client.force_login(user)
    return client.get(url)


@pytest.mark.parametrize(
    "url",
    ["/transactions/", "/replays/1/", "/replays/new/?backtest=1"],
)
def test_anonymous_visitors_are_sent_to_sign_in(client, url):
    response = client.get(url)
    assert response.status_code == 302
    assert response["Location"].startswith(reverse("login"))


def test_url_names_resolve():
    assert reverse("transaction-pages") == "/transactions/"
    assert reverse("replay-page", args=[7]) == "/replays/7/"
    assert reverse("replay-new-page") == "/replays/new/"


def test_an_analyst_gets_the_upload_fetch_and_replay_forms(client, analyst):
    html = page_of(client, analyst, "/transactions/").content.decode()
    for hook in ("data-upload-form", "data-fetch-form", "data-replay-form", 'name="skip_invalid"'):
        assert hook in html
    for field in ("time", "symbol", "side", "price", "quantity", "fee", "fee_asset", "id"):
        assert f'data-mapping-field="{field}"' in html
    assert "data-readonly-note" not in html


def test_a_viewer_sees_no_import_or_replay_controls(client, viewer):
    response = page_of(client, viewer, "/transactions/")
    html = response.content.decode()
    assert response.status_code == 200
    for hook in ("data-upload-form", "data-fetch-form", "data-replay-form"):
        assert hook not in html
    assert "data-readonly-note" in html
    assert response.context["page_data"]["can_import"] is False


def test_the_owner_sees_the_replay_with_cancel_and_sharing(client, analyst):
    run = make_run(analyst, name="january")
    response = page_of(client, analyst, f"/replays/{run.pk}/")
    html = response.content.decode()
    assert response.status_code == 200
    assert 'data-status="queued"' in html and "january" in html
    assert "data-cancel" in html and "data-share-panel" in html
    assert f"/api/replays/{run.pk}/shares/" in html
    assert response.context["page_data"]["ws"] == f"/ws/replays/{run.pk}/"


def test_someone_else_s_replay_is_404(client, analyst, make_user):
    run = make_run(make_user("bob", role="analyst"))
    assert page_of(client, analyst, f"/replays/{run.pk}/").status_code == 404


def test_a_viewer_it_is_shared_with_reads_it_without_cancel_or_sharing(client, analyst, viewer):
    from accounts.sharing import share

    run = make_run(analyst)
    share(run, grantee_type="user", grantee=viewer.username, actor=analyst)
    response = page_of(client, viewer, f"/replays/{run.pk}/")
    html = response.content.decode()
    assert response.status_code == 200
    assert "data-cancel" not in html and "data-share-panel" not in html


def test_a_failed_replay_shows_its_error(client, analyst):
    run = make_run(analyst, status=RunStatus.FAILED, error="no XRPUSDT 1m candles are stored")
    html = page_of(client, analyst, f"/replays/{run.pk}/").content.decode()
    assert "no XRPUSDT 1m candles are stored" in html
    assert 'data-status="failed"' in html


def test_the_comparison_page_shows_the_backtest_and_its_form(client, analyst):
    backtest = make_backtest(analyst)
    response = page_of(client, analyst, f"/replays/new/?backtest={backtest.pk}")
    html = response.content.decode()
    assert response.status_code == 200
    assert "data-compare-form" in html and 'name="tolerance_seconds"' in html
    assert 'value="60"' in html  # one bar of the backtest's 1m timeframe
    assert "BTCUSDT" in html and "2024-01-01 00:00" in html and "2024-01-01 01:00" in html
    assert response.context["page_data"]["launch"] == f"/api/backtests/{backtest.pk}/replay/"


def test_the_comparison_page_needs_a_backtest_the_user_can_see(client, analyst, make_user):
    other = make_backtest(make_user("bob", role="analyst"))
    assert page_of(client, analyst, f"/replays/new/?backtest={other.pk}").status_code == 404
    assert page_of(client, analyst, "/replays/new/").status_code == 404
    assert page_of(client, analyst, "/replays/new/?backtest=abc").status_code == 404


def test_a_viewer_sees_a_shared_backtest_but_no_compare_form(client, analyst, viewer):
    from accounts.sharing import share

    backtest = make_backtest(analyst)
    share(backtest, grantee_type="user", grantee=viewer.username, actor=analyst)
    response = page_of(client, viewer, f"/replays/new/?backtest={backtest.pk}")
    html = response.content.decode()
    assert response.status_code == 200
    assert "data-compare-form" not in html and "data-readonly-note" in html


def test_the_server_refuses_a_viewer_s_upload_and_replay_anyway(client, viewer):
    client.force_login(viewer)
    assert client.post("/api/replays/", {}, content_type="application/json").status_code == 403
    upload = client.post("/api/transactions/history/upload/", {})
    assert upload.status_code == 403


def test_a_completed_replay_page_renders_its_data_for_the_script(client, analyst):
    flat_candles("BTCUSDT", T0, 5, 100.0)
    make_fills(analyst, [{"time": T0, "side": "buy", "price": 100, "quantity": 1}])
    from replay import runs

    run = runs.submit_replay(analyst, runs.ReplayRequest(symbol="BTCUSDT"), None)
    runs.execute_replay(run.pk)
    response = page_of(client, analyst, f"/replays/{run.pk}/")
    data = response.context["page_data"]
    assert data["status"] == "completed" and data["final"] is True
    assert data["executions"] == f"/api/replays/{run.pk}/executions/"
    assert data["timeframe_seconds"] == 60
