"""The acting user follows a request into the Celery tasks it starts.

When a task is sent while an acting user is known (django-auditlog's context, set by
AuditlogMiddleware for requests and by central.authentication for API tokens), the
user's id and address travel in the message headers. The worker re-enters that context
around the task, so audit-log entries written by the task name the user who started it.
Tasks started by beat or the CLI carry no actor.
"""

from __future__ import annotations

import contextlib
from typing import Any

from auditlog.context import auditlog_value, set_actor
from celery.signals import before_task_publish, task_postrun, task_prerun
from django.contrib.auth import get_user_model

from central.content_type_cache import clear_content_type_caches

ACTOR_HEADER = "central_actor_id"
ADDRESS_HEADER = "central_actor_addr"
_open_contexts: dict[str, contextlib.ExitStack] = {}


def _current_actor() -> tuple[int | None, str | None]:
    try:
        context = auditlog_value.get()
    except LookupError:
        return None, None
    actor = context.get("actor")
    actor_id = getattr(actor, "pk", None) if getattr(actor, "is_authenticated", False) else None
    return actor_id, context.get("remote_addr")


def _add_actor_headers(headers: dict[str, Any] | None = None, **kwargs: Any) -> None:
    actor_id, address = _current_actor()
    if headers is not None and actor_id is not None:
        headers[ACTOR_HEADER] = actor_id
        headers[ADDRESS_HEADER] = address


def _enter_actor(task_id: str | None = None, task: Any = None, **kwargs: Any) -> None:
    # A worker outlives content-type rows it cached (a migrate adding models while it
    # runs; the test suite's flushes): a stale id would make every audit write fail.
    clear_content_type_caches()
    actor_id = getattr(task.request, ACTOR_HEADER, None) if task is not None else None
    if actor_id is None or task_id is None:
        return
    actor = get_user_model().objects.filter(pk=actor_id).first()
    if actor is None:
        return
    stack = contextlib.ExitStack()
    stack.enter_context(set_actor(actor, remote_addr=getattr(task.request, ADDRESS_HEADER, None)))
    _open_contexts[task_id] = stack


def _leave_actor(task_id: str | None = None, **kwargs: Any) -> None:
    stack = _open_contexts.pop(task_id, None)
    if stack is not None:
        stack.close()


def connect_task_actor_signals() -> None:
    before_task_publish.connect(_add_actor_headers, dispatch_uid="audit-actor-publish")
    task_prerun.connect(_enter_actor, dispatch_uid="audit-actor-prerun")
    task_postrun.connect(_leave_actor, dispatch_uid="audit-actor-postrun")
