"""Demo users, the bundled sample candles and demo research (idempotent: a second run
changes nothing)."""

from django.contrib.auth import get_user_model
from django.core.management.base import BaseCommand

from accounts.services import ensure_demo_users
from backtest.demo import ensure_demo_backtest, ensure_demo_strategies
from marketdata.sample_data import SAMPLE_DIR, SAMPLES
from marketdata.services import import_candles


class Command(BaseCommand):
    help = (
        "Create the demo operator and analyst, load the bundled sample candles, and give "
        "the analyst the strategy templates and one finished backtest."
    )

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
        analyst = get_user_model().objects.get(username="analyst")
        strategies = ensure_demo_strategies(analyst)
        created = sum(1 for _, was_created in strategies if was_created)
        self.stdout.write(f"demo strategies of analyst: {created} new, {len(strategies)} in all")
        backtest, created = ensure_demo_backtest(analyst, strategies[0][0])
        state = "ran now" if created else "exists"
        self.stdout.write(f"demo backtest #{backtest.pk} ({backtest.status}, {state})")
