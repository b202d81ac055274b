"""Re-encrypt every stored exchange credential after the field-encryption key changed."""

import os

from django.core.management.base import BaseCommand, CommandError

from accounts.credentials import RotationFailed, rotate_encryption_key

OLD_KEY_VARIABLE = "FIELD_ENCRYPTION_KEY_OLD"


class Command(BaseCommand):
    help = (
        "After FIELD_ENCRYPTION_KEY was changed: re-encrypt every exchange credential "
        "from the old key (--old-key, or the FIELD_ENCRYPTION_KEY_OLD environment "
        "variable) to the current one. All or nothing; prints counts, never values."
    )

    def add_arguments(self, parser) -> None:
        parser.add_argument(
            "--old-key",
            help=f"The previous FIELD_ENCRYPTION_KEY (default: ${OLD_KEY_VARIABLE}). "
            "Prefer the variable: a command line can be seen in the process list.",
        )

    def handle(self, *args, old_key: str | None = None, **options) -> None:
        old_key = old_key or os.environ.get(OLD_KEY_VARIABLE)
        if not old_key:
            raise CommandError(f"give the old key: --old-key or ${OLD_KEY_VARIABLE}")
        try:
            result = rotate_encryption_key(old_key)
        except RotationFailed as exc:
            raise CommandError(str(exc)) from None
        self.stdout.write(
            self.style.SUCCESS(
                f"Re-encrypted {result.reencrypted} credential(s); "
                f"{result.already_current} already under the current key."
            )
        )
