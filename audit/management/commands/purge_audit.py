"""Delete audit history older than the retention age: security events and
django-auditlog's change entries, in batches so no single statement holds locks long."""

from __future__ import annotations

from datetime import timedelta

from django.conf import settings
from django.core.management.base import BaseCommand, CommandError, CommandParser
from django.db import transaction
from django.db.models import QuerySet
from django.utils import timezone

from audit import selectors

DEFAULT_RETENTION_DAYS = 365
BATCH_SIZE = 5000


def delete_in_batches(queryset: QuerySet, batch_size: int) -> int:
    deleted = 0
    while True:
        with transaction.atomic():
            batch = list(queryset.order_by("pk").values_list("pk", flat=True)[:batch_size])
            if not batch:
                return deleted
            queryset.model.objects.filter(pk__in=batch).delete()
        deleted += len(batch)


class Command(BaseCommand):
    help = (
        "Delete security events and django-auditlog entries older than --older-than-days "
        "(default: the AUDIT_RETENTION_DAYS setting)."
    )

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument(
            "--older-than-days",
            type=int,
            default=None,
            help="Age in days; default AUDIT_RETENTION_DAYS "
            f"({DEFAULT_RETENTION_DAYS} when unset).",
        )
        parser.add_argument("--batch-size", type=int, default=BATCH_SIZE)
        parser.add_argument(
            "--dry-run", action="store_true", help="Count what would be deleted; delete nothing."
        )

    def handle(self, *args, older_than_days, batch_size, dry_run, **options) -> None:
        if older_than_days is None:
            older_than_days = getattr(settings, "AUDIT_RETENTION_DAYS", DEFAULT_RETENTION_DAYS)
        if older_than_days < 1:
            raise CommandError(f"--older-than-days must be at least 1 (got {older_than_days})")
        if batch_size < 1:
            raise CommandError(f"--batch-size must be at least 1 (got {batch_size})")
        cutoff = timezone.now() - timedelta(days=older_than_days)
        targets = (
            ("security events", selectors.security_events_before(cutoff)),
            ("change log entries", selectors.log_entries_before(cutoff)),
        )
        verb = "would delete" if dry_run else "deleted"
        for label, queryset in targets:
            count = queryset.count() if dry_run else delete_in_batches(queryset, batch_size)
            self.stdout.write(f"{verb} {count} {label} older than {cutoff:%Y-%m-%d %H:%M:%S %Z}")
