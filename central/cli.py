"""Helpers shared by the management commands."""

from datetime import UTC, datetime

from django.utils.dateparse import parse_datetime

from marketdata.services import InvalidParameter


def parse_moment(name: str, raw: str) -> datetime:
    """ISO 8601 date or date-time; without an offset it is read as UTC, as Binance is."""
    try:
        moment = parse_datetime(raw)
    except ValueError:
        moment = None
    if moment is None:
        raise InvalidParameter(name, f"{raw!r} is not an ISO 8601 date or date-time")
    return moment if moment.tzinfo else moment.replace(tzinfo=UTC)
