"""Log line formats: one JSON object per line for log collectors, or plain text.

settings.LOG_FORMAT picks one for the console handler (JSON unless DEBUG is on). Both
run after the handler's filters (central/logging_filters.py masks secrets,
central/correlation.py adds the correlation id and context), so they only lay out
what is already safe to write.

A JSON line holds `timestamp` (UTC, ISO 8601, milliseconds), `level`, `logger`,
`message`, `correlation_id` (null outside a request or task), then what the record
knows: `method`, `path`, `status`, `duration_ms` and `user_id` for requests;
`task_name`, `task_id` (and `user_id`) for Celery tasks; `exc_type` and `traceback`
(a string) for exceptions; `stack`; any other `extra` fields under their own names.
"""

from __future__ import annotations

import json
import logging
from datetime import UTC, datetime
from typing import Any

from django.utils.functional import LazyObject, empty

from central.logging_filters import MASK, RECORD_ATTRIBUTES, SENSITIVE_KEY

PLAIN_FORMAT = "%(asctime)s %(levelname)s %(name)s [%(correlation_id)s] %(message)s"
# Fields every line starts with; extras may not overwrite them.
_BASE_FIELDS = ("timestamp", "level", "logger", "message", "correlation_id")
# Extras that are turned into other fields rather than written as they are.
_CONSUMED = frozenset({"correlation_id", "request", "status_code"})


def plain_formatter() -> logging.Formatter:
    """The developer's format (`make run`): one readable line, with the correlation id."""
    return logging.Formatter(PLAIN_FORMAT, defaults={"correlation_id": "-"})


def loggable_path(request: Any) -> str:
    """request.path with URL parameters that carry secrets (e.g. a password reset
    `<token>`) replaced by ***; the query string is left out."""
    path = request.path
    match = getattr(request, "resolver_match", None)
    for name, value in (getattr(match, "kwargs", None) or {}).items():
        if SENSITIVE_KEY.search(name) and isinstance(value, str) and value:
            path = path.replace(value, MASK)
    return path


def known_user_id(request: Any) -> Any:
    """The id of the request's user if authentication has already resolved it.

    Never resolves it here: that would query the database from inside logging.
    """
    request = getattr(request, "_request", request)  # a DRF Request wraps Django's
    user = getattr(request, "__dict__", {}).get("user")
    if isinstance(user, LazyObject):
        user = None if user._wrapped is empty else user._wrapped
    if user is not None and getattr(user, "is_authenticated", False) is True:
        return user.pk
    return None


class JsonFormatter(logging.Formatter):
    """One JSON object per record, on one line (newlines in values are escaped)."""

    def format(self, record: logging.LogRecord) -> str:
        entry: dict[str, Any] = {
            "timestamp": datetime.fromtimestamp(record.created, UTC)
            .isoformat(timespec="milliseconds")
            .replace("+00:00", "Z"),
            "level": record.levelname,
            "logger": record.name,
            "message": record.getMessage(),
            "correlation_id": getattr(record, "correlation_id", None),
        }
        extras = self._extras(record)
        entry.update(extras)
        if record.exc_info and record.exc_info[0] is not None:
            entry["exc_type"] = _qualified_name(record.exc_info[0])
        if record.exc_info or record.exc_text:
            # The masking filter has rendered (and masked) exc_text already.
            entry["traceback"] = record.exc_text or self.formatException(record.exc_info)
        if record.stack_info:
            entry["stack"] = self.formatStack(record.stack_info)
        try:
            return json.dumps(entry, default=str)
        except (TypeError, ValueError):  # e.g. dict keys json cannot write, cycles
            entry.update({name: repr(value) for name, value in extras.items()})
            return json.dumps(entry, default=str)

    def _extras(self, record: logging.LogRecord) -> dict[str, Any]:
        fields: dict[str, Any] = {}
        request = record.__dict__.get("request")
        if request is not None and hasattr(request, "method") and hasattr(request, "path"):
            fields["method"] = request.method
            fields["path"] = loggable_path(request)
            user_id = known_user_id(request)
            if user_id is not None:
                fields["user_id"] = user_id
        if "status_code" in record.__dict__:
            fields["status"] = record.status_code
        for name, value in record.__dict__.items():
            if name in RECORD_ATTRIBUTES or name in _CONSUMED or name in _BASE_FIELDS:
                continue
            fields.setdefault(name, value)
        return fields


def _qualified_name(cls: type) -> str:
    module = getattr(cls, "__module__", "builtins")
    return cls.__qualname__ if module == "builtins" else f"{module}.{cls.__qualname__}"
