"""A correlation id follows each request into the Celery tasks it starts.

Every log line carries `correlation_id`, so one grep (or one query in the log store)
shows what a request did in the web process and in every worker that ran its tasks.

- HTTP: `CorrelationIdMiddleware` (first in MIDDLEWARE) takes the incoming
  `X-Request-ID` (settings.REQUEST_ID_HEADER) when it is a sane token (1-128 of
  `A-Z a-z 0-9 . _ : -`), else makes a uuid4 hex; it binds the id (and the request)
  for the request's log records, answers with the id in the same header, and writes one
  access line (`central.request`) with method, path, status, duration and user.
- WebSocket: `CorrelationIdASGIMiddleware` does the same for a Channels connection
  (from the handshake's header), for as long as the connection lives.
- Celery: the id travels in the task message headers (`central_correlation_id`), like
  the acting user does (audit/task_actor.py). The worker binds it, with the task's name
  and id, from `task_prerun` to `task_postrun`; tasks published meanwhile (chains,
  chord callbacks, retries) carry it on. A task nobody sent with an id (beat, the CLI)
  gets a fresh one.
- `CorrelationIdFilter`, on the root handler, copies the bound values onto every record.

The values live in context variables, so they are per thread (sync views, the Celery
thread pool) and per asyncio task (ASGI), and asgiref carries them across
sync_to_async / async_to_sync. This module imports no models: logging loads its filter
before the apps are ready.
"""

from __future__ import annotations

import contextlib
import logging
import re
import time
import uuid
from collections.abc import Callable, Iterator, Mapping
from contextvars import ContextVar
from types import MappingProxyType
from typing import Any

from asgiref.sync import iscoroutinefunction, markcoroutinefunction
from celery.signals import before_task_publish, task_postrun, task_prerun
from django.conf import settings
from django.http import HttpRequest, HttpResponse

from central.log_format import loggable_path

TASK_HEADER = "central_correlation_id"
_SANE_ID = re.compile(r"[A-Za-z0-9._:-]{1,128}")
# Probes and scrapes hit these every few seconds, and each page pulls several static
# files: their access lines are DEBUG unless they fail, so they do not drown the
# requests people make.
QUIET_PATHS = frozenset({"/api/health/", "/metrics"})

_correlation_id: ContextVar[str | None] = ContextVar("central_correlation_id", default=None)
_log_context: ContextVar[Mapping[str, Any]] = ContextVar(
    "central_log_context", default=MappingProxyType({})
)
_open_tasks: dict[str, contextlib.ExitStack] = {}
access_logger = logging.getLogger("central.request")


def get_correlation_id() -> str | None:
    """The id bound to the current request, task or connection (None outside them)."""
    return _correlation_id.get()


def new_correlation_id() -> str:
    return uuid.uuid4().hex


def sane_correlation_id(value: object) -> str | None:
    """value if it is safe to echo and log (a short token), else None.

    A caller-chosen id is trusted only this far: it may be anything a proxy or client
    sent, and it ends up in response headers and every log line.
    """
    if isinstance(value, str) and _SANE_ID.fullmatch(value):
        return value
    return None


@contextlib.contextmanager
def bound(correlation_id: str, **context: Any) -> Iterator[None]:
    """Bind a correlation id and extra record fields (e.g. task_name) for the block."""
    id_token = _correlation_id.set(correlation_id)
    context_token = _log_context.set(MappingProxyType(context))
    try:
        yield
    finally:
        _log_context.reset(context_token)
        _correlation_id.reset(id_token)


class CorrelationIdFilter(logging.Filter):
    """Adds `correlation_id` and the bound context to every record passing a handler.

    Values the caller passed in `extra` win over bound ones; a record with no bound id
    takes the one its `request` extra was given by the middleware. Never drops a record.
    """

    def filter(self, record: logging.LogRecord) -> bool:
        # Django logs a 4xx/5xx response (django.request) after the middleware chain has
        # returned, so after the id is unbound: that record names its request, though.
        correlation_id = _correlation_id.get() or getattr(
            record.__dict__.get("request"), "correlation_id", None
        )
        if correlation_id is not None and getattr(record, "correlation_id", None) is None:
            record.correlation_id = correlation_id
        for name, value in _log_context.get().items():
            if name not in record.__dict__:
                setattr(record, name, value)
        return True


# --- HTTP ------------------------------------------------------------------------------


class CorrelationIdMiddleware:
    """Binds the request's correlation id, echoes it in the response, logs the request.

    Both sync and async capable, so under ASGI (daphne) no thread hop is added and the
    id set here is seen by the sync views that asgiref runs in a thread.
    """

    sync_capable = True
    async_capable = True

    def __init__(self, get_response: Callable) -> None:
        self.get_response = get_response
        self.header = settings.REQUEST_ID_HEADER
        static_url = settings.STATIC_URL or ""
        self.static_prefix = "/" + static_url.lstrip("/") if "//" not in static_url else None
        self.is_async = iscoroutinefunction(get_response)
        if self.is_async:
            markcoroutinefunction(self)

    def __call__(self, request: HttpRequest) -> Any:
        if self.is_async:
            return self._acall(request)
        correlation_id, started = self._begin(request)
        with bound(correlation_id, request=request):
            response = self.get_response(request)
            self._finish(request, response, correlation_id, started)
        return response

    async def _acall(self, request: HttpRequest) -> HttpResponse:
        correlation_id, started = self._begin(request)
        with bound(correlation_id, request=request):
            response = await self.get_response(request)
            self._finish(request, response, correlation_id, started)
        return response

    def _begin(self, request: HttpRequest) -> tuple[str, float]:
        incoming = sane_correlation_id(request.headers.get(self.header))
        request.correlation_id = incoming or new_correlation_id()
        return request.correlation_id, time.monotonic()

    def _finish(
        self, request: HttpRequest, response: HttpResponse, correlation_id: str, started: float
    ) -> None:
        response[self.header] = correlation_id
        status = response.status_code
        quiet = status < 400 and (
            request.path in QUIET_PATHS
            or (self.static_prefix is not None and request.path.startswith(self.static_prefix))
        )
        query = request.META.get("QUERY_STRING")  # its secrets are masked by the filter
        access_logger.log(
            logging.DEBUG if quiet else logging.INFO,
            "%s %s %s",
            request.method,
            loggable_path(request) + (f"?{query}" if query else ""),
            status,
            extra={
                "status_code": status,
                "duration_ms": round((time.monotonic() - started) * 1000, 1),
            },
        )


# --- WebSocket (Channels) --------------------------------------------------------------


class CorrelationIdASGIMiddleware:
    """Binds a correlation id for one Channels connection (ASGI middleware).

    The consumer runs inside this call (sync handlers through database_sync_to_async,
    which copies the context), so its log lines, and tasks it starts, carry the id.
    """

    def __init__(self, app: Callable) -> None:
        self.app = app

    async def __call__(self, scope: dict, receive: Callable, send: Callable) -> None:
        wanted = settings.REQUEST_ID_HEADER.lower().encode("latin-1")
        incoming = next((v for k, v in scope.get("headers", ()) if k.lower() == wanted), b"")
        correlation_id = sane_correlation_id(incoming.decode("latin-1")) or new_correlation_id()
        scope = {**scope, "correlation_id": correlation_id}
        with bound(correlation_id, path=scope.get("path")):
            await self.app(scope, receive, send)


# --- Celery ----------------------------------------------------------------------------


def _add_correlation_header(headers: dict[str, Any] | None = None, **kwargs: Any) -> None:
    correlation_id = get_correlation_id()
    if headers is not None and correlation_id is not None:
        headers.setdefault(TASK_HEADER, correlation_id)


def _enter_task(task_id: str | None = None, task: Any = None, **kwargs: Any) -> None:
    if task_id is None or task is None:
        return
    from audit.task_actor import ACTOR_HEADER  # the acting user's header, if any

    request = task.request
    correlation_id = (
        sane_correlation_id(getattr(request, TASK_HEADER, None))
        or get_correlation_id()  # an eager task inside a request keeps the request's id
        or new_correlation_id()
    )
    context: dict[str, Any] = {"task_name": task.name, "task_id": task_id}
    actor_id = getattr(request, ACTOR_HEADER, None)
    if actor_id is not None:
        context["user_id"] = actor_id
    stack = contextlib.ExitStack()
    stack.enter_context(bound(correlation_id, **context))
    _open_tasks[task_id] = stack


def _leave_task(task_id: str | None = None, **kwargs: Any) -> None:
    stack = _open_tasks.pop(task_id, None) if task_id is not None else None
    if stack is not None:
        with contextlib.suppress(ValueError):  # reset from another context: nothing to undo
            stack.close()


def connect_correlation_signals() -> None:
    """Carry the id in task headers (publisher side) and bind it around each task run."""
    before_task_publish.connect(_add_correlation_header, dispatch_uid="correlation-publish")
    task_prerun.connect(_enter_task, dispatch_uid="correlation-prerun")
    task_postrun.connect(_leave_task, dispatch_uid="correlation-postrun")
