"""python manage.py sync_market_data --symbol SYM --timeframe TF --start ISO [--end ISO]"""

import json

from django.core.management.base import BaseCommand, CommandError, CommandParser

from central.cli import parse_moment
from marketdata.models import SyncRun
from marketdata.services import InvalidParameter
from marketdata.sync import create_manual_run, execute_sync_run, run_summary


class Command(BaseCommand):
    help = (
        "Download candles from Binance into the database, in this process (no worker "
        "needed): resumes after the last stored candle and fills gaps. Exits non-zero "
        "if the sync fails or is cancelled."
    )

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument("--symbol", required=True, help="e.g. BTCUSDT")
        parser.add_argument("--timeframe", required=True, help="Binance interval, e.g. 1h")
        parser.add_argument(
            "--start", required=True, help="ISO 8601 date or date-time (UTC without an offset)"
        )
        parser.add_argument("--end", help="exclusive; default: up to the last closed candle")
        parser.add_argument("--json", action="store_true", help="print one JSON object")

    def handle(self, *args, **options) -> None:
        try:
            start = parse_moment("start", options["start"])
            end = parse_moment("end", options["end"]) if options["end"] else None
            run = create_manual_run(options["symbol"], options["timeframe"], start, end)
        except InvalidParameter as exc:
            if options["json"]:
                self.stdout.write(json.dumps({"error": str(exc)}))
            raise CommandError(str(exc)) from None
        try:
            summary = execute_sync_run(run.pk)
        except Exception:
            # The run is marked failed with the error before it propagates; report that.
            run.refresh_from_db()
            summary = run_summary(run)
        if options["json"]:
            self.stdout.write(json.dumps(summary))
        else:
            self._print_summary(summary)
        if summary["status"] != SyncRun.Status.SUCCEEDED:
            # Failed, or cancelled from the admin or the API while it ran.
            raise CommandError(f"sync run #{summary['id']} {summary['status']}: {summary['error']}")

    def _print_summary(self, summary: dict) -> None:
        self.stdout.write(
            f"sync run #{summary['id']} {summary['symbol']} {summary['timeframe']}: "
            f"{summary['status']}\n"
            f"  inserted {summary['rows_inserted']}, updated {summary['rows_updated']}\n"
            f"  gaps found {summary['gaps_found']}, filled {summary['gaps_filled']}, "
            f"unfilled {len(summary['unfilled_gaps'])}\n"
            f"  requests {summary['requests_made']}, retries {summary['retries']}, "
            f"max weight {summary['max_weight_used']}"
        )
        for gap in summary["unfilled_gaps"]:
            self.stdout.write(f"  no data on Binance from {gap['start']} to {gap['end']}")
