"""python manage.py import_candles PATH --symbol SYM --timeframe TF [...]"""

import json

from django.core.management.base import BaseCommand, CommandError, CommandParser

from marketdata.importers.errors import ImportFileError, ImportRejected
from marketdata.importers.formats import FORMATS
from marketdata.models import DEFAULT_SOURCE
from marketdata.services import ImportResult, InvalidParameter, import_candles


class Command(BaseCommand):
    help = (
        "Import candles from a Binance kline file or a generic OHLCV CSV (.csv, .gz, .zip). "
        "All-or-nothing unless --skip-invalid."
    )
    # A data command: the project-wide system checks (URLs, admin, …) only slow it down.
    requires_system_checks: list[str] = []

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument("path")
        parser.add_argument("--symbol", required=True)
        parser.add_argument("--timeframe", required=True)
        parser.add_argument("--format", dest="fmt", choices=FORMATS, default="auto")
        parser.add_argument("--source", default=DEFAULT_SOURCE)
        parser.add_argument(
            "--skip-invalid",
            action="store_true",
            help="store the valid rows and list the rejected ones",
        )
        parser.add_argument("--json", action="store_true", help="print one JSON object")

    def handle(self, *args, **options) -> None:
        try:
            result = import_candles(
                options["path"],
                symbol=options["symbol"],
                timeframe=options["timeframe"],
                fmt=options["fmt"],
                source_name=options["source"],
                skip_invalid=options["skip_invalid"],
            )
        except ImportRejected as exc:
            if options["json"]:
                report = ImportResult(rejects=exc.errors).as_dict()
                self.stdout.write(json.dumps({"error": str(exc), **report}))
            else:
                for reject in exc.errors:
                    self.stderr.write(f"  rejected {reject}")
            raise CommandError(str(exc)) from None
        except (InvalidParameter, ImportFileError) as exc:
            if options["json"]:
                self.stdout.write(json.dumps({"error": str(exc)}))
            raise CommandError(str(exc)) from None
        if options["json"]:
            self.stdout.write(json.dumps(result.as_dict()))
            return
        self.stdout.write(
            f"inserted {result.inserted}, updated {result.updated}, "
            f"skipped {result.skipped} (already stored, unchanged), rejected {result.rejected}"
        )
        for reject in result.rejects:
            self.stdout.write(f"  rejected {reject}")
