"""Binance's kline intervals, the timeframes Central stores candles in."""

from dataclasses import dataclass
from datetime import datetime, timedelta


@dataclass(frozen=True)
class Timeframe:
    code: str
    seconds: int  # nominal length; a calendar month ("1M") varies and is aligned by date

    @property
    def milliseconds(self) -> int:
        return self.seconds * 1000

    @property
    def is_calendar_month(self) -> bool:
        return self.code == "1M"

    @property
    def delta(self) -> timedelta:
        return timedelta(seconds=self.seconds)

    @property
    def periods_per_year(self) -> float:
        """Bars per year on a 365-day calendar (a calendar month counts as 1/12 year)."""
        return 12.0 if self.is_calendar_month else 365 * 86_400 / self.seconds

    def is_aligned(self, moment: datetime) -> bool:
        if self.is_calendar_month:
            return moment.day == 1 and moment.time() == datetime.min.time()
        if self.code == "1w":  # Binance's weeks open on Monday 00:00 UTC
            return moment.weekday() == 0 and moment.time() == datetime.min.time()
        return int(moment.timestamp()) % self.seconds == 0 and moment.microsecond == 0


_MINUTE, _HOUR, _DAY = 60, 3600, 86400
TIMEFRAMES: dict[str, Timeframe] = {
    tf.code: tf
    for tf in (
        Timeframe("1m", _MINUTE),
        Timeframe("3m", 3 * _MINUTE),
        Timeframe("5m", 5 * _MINUTE),
        Timeframe("15m", 15 * _MINUTE),
        Timeframe("30m", 30 * _MINUTE),
        Timeframe("1h", _HOUR),
        Timeframe("2h", 2 * _HOUR),
        Timeframe("4h", 4 * _HOUR),
        Timeframe("6h", 6 * _HOUR),
        Timeframe("8h", 8 * _HOUR),
        Timeframe("12h", 12 * _HOUR),
        Timeframe("1d", _DAY),
        Timeframe("3d", 3 * _DAY),
        Timeframe("1w", 7 * _DAY),
        Timeframe("1M", 30 * _DAY),
    )
}
TIMEFRAME_CHOICES = [(code, code) for code in TIMEFRAMES]


class UnknownTimeframe(ValueError):
    pass


def get_timeframe(code: str) -> Timeframe:
    try:
        return TIMEFRAMES[code]
    except KeyError:
        known = ", ".join(TIMEFRAMES)
        raise UnknownTimeframe(f"unknown timeframe {code!r}; use one of {known}") from None
