"""Shared fixtures: users and clients, and a real Celery worker process.

The suite runs against the real PostgreSQL and Redis that `make test` starts (or the
ones in DATABASE_URL / REDIS_URL); pytest-django creates and drops the test database.
"""

from __future__ import annotations

import os
import subprocess
import sys
import time
from pathlib import Path

import pytest
import redis
from django.conf import settings
from rest_framework.test import APIClient

from accounts.services import set_role
from audit.models import SecurityAction, SecurityEvent

BASE_DIR = Path(__file__).resolve().parent.parent


@pytest.fixture(scope="session", autouse=True)
def _clean_redis():
    """Each run starts from an empty Redis (the throwaway one, or the given db)."""
    client = redis.Redis.from_url(settings.REDIS_URL)
    client.flushdb()
    yield
    client.close()


@pytest.fixture(autouse=True)
def _no_rate_limit_state():
    """Throttle and login-lockout counters live in Redis, which outlives a test: each
    test starts and ends without any."""
    clear_rate_limit_state()
    yield
    clear_rate_limit_state()


def clear_rate_limit_state() -> None:
    from django.core.cache import cache

    client = cache._cache.get_client(write=True)
    for pattern in ("throttle_*", "lockout:*"):
        keys = list(client.scan_iter(match=cache.make_key(pattern), count=1000))
        if keys:
            client.delete(*keys)


@pytest.fixture(autouse=True)
def _fast_password_hashing(settings):
    """Users are made per test; PBKDF2 would dominate the run."""
    settings.PASSWORD_HASHERS = ["django.contrib.auth.hashers.MD5PasswordHasher"]


@pytest.fixture
def make_user(django_user_model):
    def make(username: str, role: str | None = None, **extra):
        user = django_user_model.objects.create_user(
            username=username, password=f"{username}-Password-1", **extra
        )
        if role:
            set_role(user, role)
            # Setting up a test's users is not the action under test: its "role changed"
            # events would only blur the trail the audit tests read.
            SecurityEvent.objects.filter(
                action=SecurityAction.ROLE_CHANGED, target_id=str(user.pk)
            ).delete()
        return user

    return make


@pytest.fixture
def operator(make_user):
    return make_user("ops", role="operator")


@pytest.fixture
def analyst(make_user):
    return make_user("ana", role="analyst")


@pytest.fixture
def viewer(make_user):
    return make_user("vic")


def _client_for(user) -> APIClient:
    client = APIClient()
    client.force_authenticate(user)
    return client


@pytest.fixture
def anon_client() -> APIClient:
    return APIClient()


@pytest.fixture
def operator_client(operator) -> APIClient:
    return _client_for(operator)


@pytest.fixture
def analyst_client(analyst) -> APIClient:
    return _client_for(analyst)


@pytest.fixture
def viewer_client(viewer) -> APIClient:
    return _client_for(viewer)


def worker_environment(database_name: str, **extra: str) -> dict[str, str]:
    """The environment of a subprocess that must see the test database."""
    env = dict(os.environ)
    db = settings.DATABASES["default"]
    env["TEST_DATABASE_NAME"] = database_name
    env["DATABASE_URL"] = _database_url(db, database_name)
    env.update(extra)
    return env


def _database_url(db: dict, name: str) -> str:
    from urllib.parse import quote

    user = quote(db.get("USER") or "")
    password = f":{quote(db['PASSWORD'])}" if db.get("PASSWORD") else ""
    host = quote(db.get("HOST") or "", safe="")
    port = f":{db['PORT']}" if db.get("PORT") else ""
    return f"postgres://{user}{password}@{host}{port}/{name}"


@pytest.fixture(scope="session")
def fake_binance_server():
    """One local fake Binance for the session; the Celery worker is pointed at it too."""
    from tests.fakes.fake_binance import FakeBinance

    with FakeBinance() as server:
        yield server


@pytest.fixture
def fake_binance(fake_binance_server, settings):
    """The session's fake Binance, emptied, with the Binance REST URLs (the exchange's and
    its testnet's) pointed at it."""
    fake_binance_server.reset()
    settings.BINANCE_API_URL = fake_binance_server.api_url
    settings.BINANCE_TESTNET_API_URL = fake_binance_server.api_url
    yield fake_binance_server
    fake_binance_server.reset()


def start_worker(env: dict[str, str], queues: str, name: str, log_name: str):
    """Start a `celery worker` subprocess and wait until it answers a ping.

    Returns (process, log file); the caller stops the process and closes the log.
    """
    from central.celery import app

    log_path = Path(os.environ.get("CENTRAL_TEST_ARTIFACTS", BASE_DIR / "test-artifacts"))
    log_path.mkdir(parents=True, exist_ok=True)
    log_file = open(log_path / log_name, "w")  # noqa: SIM115 (kept open for the worker)
    node = f"{name}-{os.getpid()}@%h"
    process = subprocess.Popen(
        [
            sys.executable,
            "-m",
            "celery",
            "-A",
            "central",
            "worker",
            "--pool",
            "threads",
            "--concurrency",
            "2",
            "-Q",
            queues,
            "--loglevel",
            "INFO",
            "--without-gossip",
            "--without-mingle",
            "-n",
            node,
        ],
        env=env,
        cwd=BASE_DIR,
        stdout=log_file,
        stderr=subprocess.STDOUT,
    )
    deadline = time.monotonic() + 60
    destination = [node.replace("%h", _hostname())]
    while time.monotonic() < deadline:
        if process.poll() is not None:
            raise RuntimeError(f"celery worker exited early; see {log_file.name}")
        if app.control.ping(destination=destination, timeout=0.5):
            return process, log_file
    process.kill()
    raise RuntimeError(f"celery worker did not answer within 60 s; see {log_file.name}")


def _hostname() -> str:
    import socket

    return socket.gethostname()


def stop_worker(process: subprocess.Popen, log_file) -> None:
    process.terminate()
    try:
        process.wait(20)
    except subprocess.TimeoutExpired:
        process.kill()
    log_file.close()


def current_test_database(django_db_blocker) -> str:
    with django_db_blocker.unblock():
        from django.db import connection

        return connection.settings_dict["NAME"]


@pytest.fixture(scope="session")
def celery_worker(django_db_setup, django_db_blocker, fake_binance_server):
    """A real `celery worker` subprocess bound to the test database.

    Tests that use it must commit their data (transactional_db) so the worker sees it.
    Its Binance (and Binance testnet) is the session's fake server, never the real one.
    """
    env = worker_environment(
        current_test_database(django_db_blocker),
        BINANCE_API_URL=fake_binance_server.api_url,
        BINANCE_TESTNET_API_URL=fake_binance_server.api_url,
    )
    process, log_file = start_worker(
        env, "default,marketdata,backtests,replays", "test", "celery-worker.log"
    )
    yield process
    stop_worker(process, log_file)
