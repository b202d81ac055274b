"""A logging filter that masks secrets before a record reaches any output.

Installed on the root handlers by settings.LOGGING, so every line Central writes (its
own loggers, Django's, Celery's) passes through it. It masks, with "***":

- the values of sensitive keys in dict arguments and `extra` fields (api_key,
  api_secret, secret, password, token, authorization, signature, ...), recursively;
- `key=value`, `key: value` and `"key": "value"` pairs with a sensitive key in the
  message, the exception text and the stack (so `Authorization: Token abc...`, a
  query string `?signature=...` or a repr of a dict are covered);
- bare `Bearer`/`Token`/`Basic` credentials and the password of a URL
  (`postgres://user:***@host`).

The message is rendered once with masked arguments and stored back as `record.msg`
(`record.args` becomes empty), so every handler after this one sees the masked text.
"""

from __future__ import annotations

import contextlib
import logging
import re
from collections.abc import Mapping
from typing import Any

MASK = "***"

_SENSITIVE = (
    r"api[_-]?key|apikey|api[_-]?secret|secret|passw(?:or)?d|pwd|token|authori[sz]ation"
    r"|signature|private[_-]?key|access[_-]?key|encryption[_-]?key|credentials?"
    r"|session[_-]?id|csrf[_-]?token|cookie"
)
SENSITIVE_KEY = re.compile(rf"(?:{_SENSITIVE})", re.IGNORECASE)

# key = value, key: value, "key": "value", 'key': 'value', key=value&... (query strings)
_PAIR = re.compile(
    rf"""(?P<key>["']?[\w.-]*(?:{_SENSITIVE})[\w.-]*["']?\s*[:=]\s*)"""
    r"""(?:(?P<quote>["'])(?P<quoted>.*?)(?P=quote)"""
    r"""|(?P<bare>(?:(?:Bearer|Token|Basic|Digest)\s+)?[^\s"',;&)}\]]+))""",
    re.IGNORECASE,
)
# A credential after an HTTP auth scheme, wherever it appears.
_SCHEME = re.compile(r"\b(?P<scheme>Bearer|Token|Basic|Digest)\s+[A-Za-z0-9._~+/=-]{16,}")
# scheme://user:password@host
_URL_PASSWORD = re.compile(r"(?P<head>[a-z][a-z0-9+.-]*://[^\s/:@]*:)[^\s/@]+@", re.IGNORECASE)


def _mask_pair(match: re.Match) -> str:
    if match["quote"]:
        return f"{match['key']}{match['quote']}{MASK}{match['quote']}"
    return f"{match['key']}{MASK}"


def mask_text(text: str) -> str:
    """The text with every recognisable secret replaced by ***."""
    text = _URL_PASSWORD.sub(rf"\g<head>{MASK}@", text)
    text = _PAIR.sub(_mask_pair, text)
    return _SCHEME.sub(rf"\g<scheme> {MASK}", text)


def mask_data(value: Any, _depth: int = 0) -> Any:
    """A copy of value with the values of sensitive keys masked, recursively."""
    if _depth > 10:
        return value
    if isinstance(value, Mapping):
        return {
            k: MASK if isinstance(k, str) and SENSITIVE_KEY.search(k) else mask_data(v, _depth + 1)
            for k, v in value.items()
        }
    if isinstance(value, tuple):
        return tuple(mask_data(v, _depth + 1) for v in value)
    if isinstance(value, list):
        return [mask_data(v, _depth + 1) for v in value]
    if isinstance(value, str):
        return mask_text(value)
    return value


# LogRecord attributes that are not `extra` fields (the JSON formatter uses it too).
RECORD_ATTRIBUTES = frozenset(
    [*logging.LogRecord("", 0, "", 0, "", None, None).__dict__, "message", "asctime", "taskName"]
)

_exception_formatter = logging.Formatter()


class SecretMaskingFilter(logging.Filter):
    """Masks secrets in the message, arguments, extras, exception and stack of a record.

    Never drops a record; if the message cannot be rendered (a bad format string) the
    record goes on unchanged so the handler reports the error as usual.
    """

    def filter(self, record: logging.LogRecord) -> bool:
        with contextlib.suppress(Exception):  # a filter must never break logging
            self._mask(record)
        return True

    def _mask(self, record: logging.LogRecord) -> None:
        if record.args:
            args = record.args
            if isinstance(args, tuple) and len(args) == 1 and isinstance(args[0], Mapping):
                args = args[0]  # logging unwraps log("%(k)s", {...}) the same way
            record.args = mask_data(args)
            message = record.getMessage()
            record.args = None
        else:
            message = str(record.msg)
        record.msg = mask_text(message)

        if record.exc_info and not record.exc_text:
            record.exc_text = _exception_formatter.formatException(record.exc_info)
        if record.exc_text:
            record.exc_text = mask_text(record.exc_text)
        if record.stack_info:
            record.stack_info = mask_text(record.stack_info)

        for name, value in list(record.__dict__.items()):
            if name in RECORD_ATTRIBUTES:
                continue
            if SENSITIVE_KEY.search(name):
                setattr(record, name, MASK)
            elif isinstance(value, str | Mapping | list | tuple):
                setattr(record, name, mask_data(value))
