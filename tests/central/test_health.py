"""/api/health/: 200 when database, Redis, a Celery worker and disk are all fine,
503 naming whatever is down (each case made real, not mocked)."""

import socket

import pytest


def _closed_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


@pytest.mark.django_db
def test_health_is_200_when_everything_is_up(anon_client, celery_worker):
    response = anon_client.get("/api/health/")
    assert response.status_code == 200, response.json()
    body = response.json()
    assert body["status"] == "ok" and body["down"] == []
    assert set(body["components"]) == {"database", "redis", "celery", "disk"}
    assert all(c["ok"] for c in body["components"].values())


@pytest.mark.django_db
def test_health_names_celery_when_no_worker_listens(anon_client, settings, celery_worker):
    db_without_worker = settings.CELERY_BROKER_URL.rsplit("/", 1)[0] + "/9"
    settings.CELERY_BROKER_URL = db_without_worker
    settings.HEALTH_CELERY_TIMEOUT = 0.3
    response = anon_client.get("/api/health/")
    assert response.status_code == 503
    assert response.json()["down"] == ["celery"]
    assert "no worker" in response.json()["components"]["celery"]["detail"]


@pytest.mark.django_db
def test_health_names_redis_when_it_is_unreachable(anon_client, settings, celery_worker):
    settings.REDIS_URL = f"redis://127.0.0.1:{_closed_port()}/0"
    response = anon_client.get("/api/health/")
    assert response.status_code == 503
    assert response.json()["down"] == ["redis"]
    assert "ConnectionError" in response.json()["components"]["redis"]["detail"]


@pytest.mark.django_db
def test_health_names_the_disk_when_free_space_is_below_the_minimum(
    anon_client, settings, celery_worker
):
    settings.HEALTH_DISK_MIN_FREE_MB = 10**12
    response = anon_client.get("/api/health/")
    assert response.status_code == 503
    assert response.json()["down"] == ["disk"]


@pytest.mark.django_db
def test_health_needs_no_credentials_and_reveals_no_settings(anon_client, celery_worker):
    body = anon_client.get("/api/health/").content.decode()
    assert "postgres://" not in body and "redis://" not in body
