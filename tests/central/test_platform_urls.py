"""Prometheus metrics after real requests, and devstack honouring given server URLs."""

import pytest

from central import devstack


@pytest.mark.django_db
def test_metrics_count_the_requests_served(client):
    client.get("/api/health/")
    body = client.get("/metrics").content.decode()
    assert "django_http_requests_total_by_view_transport_method_total" in body
    assert 'view="health"' in body


def test_services_use_the_given_urls_and_start_nothing(monkeypatch, tmp_path):
    monkeypatch.setenv("DATABASE_URL", "postgres://u:p@db.example:5432/central")
    monkeypatch.setenv("REDIS_URL", "redis://cache.example:6379/2")
    with devstack.services(tmp_path, throwaway=True, redis_port=1) as urls:
        assert urls == {
            "DATABASE_URL": "postgres://u:p@db.example:5432/central",
            "REDIS_URL": "redis://cache.example:6379/2",
        }
    assert list(tmp_path.iterdir()) == []  # no embedded server was started here
