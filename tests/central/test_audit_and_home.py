"""The audit trail records who changed operational settings; the home page renders."""

from datetime import UTC, datetime

import pytest
from auditlog.models import LogEntry

from marketdata.models import WatchedSymbol
from marketdata.services import get_or_create_symbol


@pytest.mark.django_db
def test_admin_change_to_a_watched_symbol_is_audited_with_the_actor(client, django_user_model):
    admin = django_user_model.objects.create_superuser("root", "r@example.com", "pw-Root-1")
    client.force_login(admin)
    symbol = get_or_create_symbol("BTCUSDT")
    watched = WatchedSymbol.objects.create(
        symbol=symbol, timeframe="1h", history_start=datetime(2024, 1, 1, tzinfo=UTC)
    )
    response = client.post(
        f"/admin/marketdata/watchedsymbol/{watched.pk}/change/",
        {
            "symbol": symbol.pk,
            "timeframe": "1h",
            "history_start_0": "2024-01-01",
            "history_start_1": "00:00:00",
            "is_enabled": "",
        },
        REMOTE_ADDR="10.1.2.3",
    )
    assert response.status_code == 302, response.content[:500]
    entry = LogEntry.objects.get_for_object(watched).filter(action=LogEntry.Action.UPDATE).get()
    assert entry.actor == admin
    assert entry.remote_addr == "10.1.2.3"
    assert "is_enabled" in entry.changes_dict


@pytest.mark.django_db
def test_password_hashes_never_enter_the_audit_trail(django_user_model):
    user = django_user_model.objects.create_user("someone", password="first-Secret-1")
    user.set_password("second-Secret-2")
    user.save()
    for entry in LogEntry.objects.get_for_object(user):
        assert "password" not in entry.changes_dict


@pytest.mark.django_db
def test_home_page_lists_stored_series_to_signed_in_users_only(client, tmp_path, analyst):
    from marketdata.sample_data import kline_rows
    from marketdata.services import import_candles

    path = tmp_path / "k.csv"
    path.write_bytes(kline_rows(1_704_067_200_000, 3_600_000, 24, 100.0, seed=1))
    import_candles(path, symbol="ETHUSDT", timeframe="1h")
    anonymous = client.get("/")
    assert anonymous.status_code == 200 and b"ETHUSDT" not in anonymous.content
    assert b"/admin/" in anonymous.content and b"/api/docs/" in anonymous.content
    client.force_login(analyst)
    page = client.get("/")
    assert b"ETHUSDT" in page.content and b'<td class="num">24</td>' in page.content
