"""Delete finished runs older than the retention age, with their results
(central.run_retention: the service the admin's purge actions use too)."""

from __future__ import annotations

from auditlog.context import set_actor
from django.conf import settings
from django.core.management.base import BaseCommand, CommandError, CommandParser

from backtest.services import InvalidBacktestInput, cli_user
from central.run_retention import BATCH_SIZE, purge_old_runs


class Command(BaseCommand):
    help = (
        "Delete backtests, sweeps, replays and market-data sync runs that finished more "
        "than --older-than-days ago (default: the RUN_RETENTION_DAYS setting), with their "
        "trades, equity curves and replay executions. Unfinished runs are never touched."
    )

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument(
            "--older-than-days",
            type=int,
            default=None,
            help=f"Age in days; default RUN_RETENTION_DAYS ({settings.RUN_RETENTION_DAYS}).",
        )
        parser.add_argument("--batch-size", type=int, default=BATCH_SIZE)
        parser.add_argument(
            "--dry-run", action="store_true", help="Count what would be deleted; delete nothing."
        )
        parser.add_argument(
            "--user",
            default=None,
            help="Who the change log names for the deletions (default: the central-cli "
            "service account).",
        )

    def handle(self, *args, older_than_days, batch_size, dry_run, user, **options) -> None:
        if batch_size < 1:
            raise CommandError(f"--batch-size must be at least 1 (got {batch_size})")
        try:
            actor = cli_user(user)
        except InvalidBacktestInput as exc:
            raise CommandError(str(exc)) from None
        with set_actor(actor):
            try:
                report = purge_old_runs(older_than_days, dry_run=dry_run, batch_size=batch_size)
            except ValueError as exc:
                raise CommandError(f"--older-than-days: {exc}") from None
        self.stdout.write(str(report))
