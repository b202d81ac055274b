"""PostgreSQL advisory locks shared by the apps' long-running jobs."""

from __future__ import annotations

import contextlib
from collections.abc import Iterator

from django.db import connection


@contextlib.contextmanager
def exclusive_job(namespace: int, key: int) -> Iterator[bool]:
    """True if this process alone works on the job (a broker may redeliver a long task).

    A session-level advisory lock dies with the connection, so a killed worker's
    redelivered task can take the job over.
    """
    with connection.cursor() as cursor:
        cursor.execute("SELECT pg_try_advisory_lock(%s, %s)", (namespace, key))
        (acquired,) = cursor.fetchone()
    try:
        yield acquired
    finally:
        if acquired:
            with connection.cursor() as cursor:
                cursor.execute("SELECT pg_advisory_unlock(%s, %s)", (namespace, key))


def lock_for_transaction(namespace: int, key: int) -> None:
    """Serialise transactions on (namespace, key) until the current one ends."""
    with connection.cursor() as cursor:
        cursor.execute("SELECT pg_advisory_xact_lock(%s, %s)", (namespace, key))
