"""Liveness of the services the platform depends on, for /api/health/ and probes.

The endpoint is public (probes carry no credentials), so a failure is reported by its
exception type only: connection strings and host names stay out of the response.
"""

import shutil
from dataclasses import asdict, dataclass

import redis
from django.conf import settings
from django.db import connection

from central.celery import app as celery_app


@dataclass(frozen=True)
class ComponentStatus:
    name: str
    ok: bool
    detail: str


def check_database() -> ComponentStatus:
    try:
        with connection.cursor() as cursor:
            cursor.execute("SELECT 1")
            cursor.fetchone()
    except Exception as exc:  # any driver error means "down"; the message says why
        return ComponentStatus("database", False, type(exc).__name__)
    return ComponentStatus("database", True, "reachable")


def check_redis() -> ComponentStatus:
    client = redis.Redis.from_url(settings.REDIS_URL, socket_connect_timeout=1, socket_timeout=1)
    try:
        client.ping()
    except redis.RedisError as exc:
        return ComponentStatus("redis", False, type(exc).__name__)
    finally:
        client.close()
    return ComponentStatus("redis", True, "reachable")


def check_celery() -> ComponentStatus:
    try:
        with celery_app.connection_for_write(settings.CELERY_BROKER_URL) as broker:
            replies = celery_app.control.ping(
                timeout=settings.HEALTH_CELERY_TIMEOUT, connection=broker
            )
    except Exception as exc:  # broker down: the worker cannot be reached either
        return ComponentStatus("celery", False, type(exc).__name__)
    if not replies:
        return ComponentStatus("celery", False, "no worker answered the ping")
    return ComponentStatus("celery", True, f"{len(replies)} worker(s) answered")


def check_disk() -> ComponentStatus:
    usage = shutil.disk_usage(settings.HEALTH_DISK_PATH)
    free_mb = usage.free // (1024 * 1024)
    ok = free_mb >= settings.HEALTH_DISK_MIN_FREE_MB
    return ComponentStatus(
        "disk", ok, f"{free_mb} MB free (minimum {settings.HEALTH_DISK_MIN_FREE_MB} MB)"
    )


CHECKS = (check_database, check_redis, check_celery, check_disk)


def platform_health() -> dict:
    """Every component's status; `status` is "ok" only when all are up."""
    components = [check() for check in CHECKS]
    down = [c.name for c in components if not c.ok]
    return {
        "status": "ok" if not down else "down",
        "down": down,
        "components": {c.name: asdict(c) for c in components},
    }
