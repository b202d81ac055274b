"""Demo users and the bundled sample candles (idempotent: a second run changes nothing)."""

from django.core.management.base import BaseCommand

from accounts.services import ensure_demo_users
from marketdata.sample_data import SAMPLE_DIR, SAMPLES
from marketdata.services import import_candles


class Command(BaseCommand):
    help = "Create the demo operator and analyst and load the bundled sample candles."

    def handle(self, *args, **options) -> None:
        for account, created in ensure_demo_users():
            if created:
                login = f"{account.username} / {account.password} (created)"
            else:  # its password may have been changed since: do not show a stale one
                login = f"{account.username} (exists; password as set)"
            self.stdout.write(f"demo {account.role:<8} user: {login}")
        for name, symbol, timeframe, *_ in SAMPLES:
            result = import_candles(SAMPLE_DIR / name, symbol=symbol, timeframe=timeframe)
            self.stdout.write(
                f"sample candles {symbol} {timeframe} (synthetic): {result.inserted} new, "
                f"{result.skipped} already stored"
            )
