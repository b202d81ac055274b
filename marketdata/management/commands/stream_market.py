"""python manage.py stream_market --symbols BTCUSDT,ETHUSDT --timeframes 1m,5m [--name NAME]"""

import asyncio

from django.core.management.base import BaseCommand, CommandError, CommandParser

from marketdata.services import InvalidParameter
from marketdata.stream import MarketStreamService, check_name, default_name, parse_targets, serve


class Command(BaseCommand):
    help = (
        "Stream live klines from Binance until SIGTERM or SIGINT: closed candles are "
        "stored, every candle is sent to the browsers watching its series; reconnects "
        "with backoff and backfills over REST what it missed. Its state is the "
        "MarketStream row of its name (admin, /metrics)."
    )

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument(
            "--symbols", required=True, help="comma-separated, e.g. BTCUSDT,ETHUSDT"
        )
        parser.add_argument(
            "--timeframes", required=True, help="comma-separated Binance intervals, e.g. 1m,5m"
        )
        parser.add_argument(
            "--name",
            help="the stream's state row (default: its symbols and timeframes); "
            "two processes must not share one",
        )

    def handle(self, *args, **options) -> None:
        try:
            targets = parse_targets(options["symbols"], options["timeframes"])
            name = check_name(options["name"]) if options["name"] else default_name(targets)
            service = MarketStreamService(name, targets)
        except InvalidParameter as exc:
            raise CommandError(str(exc)) from None
        self.stdout.write(
            f"streaming {len(targets)} series as {name!r} from {service.url} (Ctrl-C stops)"
        )
        asyncio.run(serve(service))
        self.stdout.write(f"stream {name!r} stopped")
