"""The latest check of each exchange credential with its exchange."""

from django.db import migrations, models


class Migration(migrations.Migration):
    dependencies = [
        ("accounts", "0003_role_groups"),
    ]

    operations = [
        migrations.AddField(
            model_name="exchangecredential",
            name="checked_at",
            field=models.DateTimeField(
                blank=True,
                help_text="When the latest check with the exchange finished.",
                null=True,
            ),
        ),
        migrations.AddField(
            model_name="exchangecredential",
            name="check_status",
            field=models.CharField(
                blank=True,
                choices=[
                    ("", "unchecked"),
                    ("pending", "check queued"),
                    ("valid", "valid"),
                    ("rejected", "rejected by the exchange"),
                    ("error", "could not be checked"),
                ],
                default="",
                max_length=16,
            ),
        ),
        migrations.AddField(
            model_name="exchangecredential",
            name="check_detail",
            field=models.CharField(
                blank=True,
                default="",
                help_text=(
                    "What the exchange answered, e.g. the account's permissions or its error."
                ),
                max_length=300,
            ),
        ),
    ]
