"""python manage.py import_transactions PATH --user USERNAME [--format auto|binance_trades|generic]
[--mapping MAPPING] [--exchange NAME] [--skip-invalid] [--json]"""

import json

from django.contrib.auth import get_user_model
from django.core.management.base import BaseCommand, CommandError, CommandParser

from replay import imports
from replay.importers.detect import FORMAT_CHOICES


class Command(BaseCommand):
    help = (
        "Import a trader's fills from Binance's trade-history export or a generic CSV "
        "(.csv, .gz, .zip). All-or-nothing unless --skip-invalid; fills already imported "
        "are skipped."
    )
    # A data command: the project-wide system checks (URLs, admin, …) only slow it down.
    requires_system_checks: list[str] = []

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument("path")
        parser.add_argument("--user", required=True, help="the username who owns the fills")
        parser.add_argument("--format", dest="fmt", choices=FORMAT_CHOICES, default="auto")
        parser.add_argument(
            "--mapping",
            help='generic format: columns of our fields, as JSON {"time": "Executed At"} or '
            '"time=Executed At,quantity=Filled" (fields: time, symbol, side, price, '
            "quantity, fee, fee_asset, type, id)",
        )
        parser.add_argument(
            "--exchange",
            default=imports.DEFAULT_EXCHANGE,
            help="generic format: the exchange the fills are from (default binance)",
        )
        parser.add_argument(
            "--skip-invalid",
            action="store_true",
            help="store the valid rows and list the rejected ones",
        )
        parser.add_argument("--json", action="store_true", help="print one JSON object")

    def handle(self, *args, **options) -> None:
        as_json = options["json"]
        owner = get_user_model().objects.filter(username=options["user"]).first()
        if owner is None:
            self._refuse(as_json, f"--user: no user named {options['user']!r}")
        try:
            batch = imports.import_file(
                owner,
                options["path"],
                fmt=options["fmt"],
                mapping=options["mapping"],
                skip_invalid=options["skip_invalid"],
                exchange=options["exchange"],
            )
        except imports.ImportRefused as exc:
            for reject in exc.rejects[: imports.MAX_LISTED_REJECTS]:
                self.stderr.write(f"  rejected {reject}")
            self._refuse(as_json, str(exc), exc.as_dict())
        except (imports.InvalidParameter, imports.ImportFileError) as exc:
            self._refuse(as_json, str(exc))
        result = imports.summary(batch)
        if as_json:
            self.stdout.write(json.dumps(result))
            return
        self.stdout.write(
            f"import #{batch.pk} ({batch.format}): inserted {batch.inserted}, skipped "
            f"{batch.skipped} (imported before), rejected {batch.rejected}"
        )
        for reject in batch.rejects:
            self.stdout.write(f"  rejected line {reject['line']}, field {reject['field']}: "
                              f"{reject['reason']}")  # fmt: skip

    def _refuse(self, as_json: bool, message: str, report: dict | None = None) -> None:
        if as_json:
            body = {**(report or {}), "error": message}
            body.pop("detail", None)
            self.stdout.write(json.dumps(body))
        raise CommandError(message)
