"""The four role groups (viewer, analyst, operator, admin) with their permissions."""

from django.db import migrations

from accounts.roles import sync_role_groups


def create_role_groups(apps, schema_editor):
    sync_role_groups(apps)


class Migration(migrations.Migration):
    dependencies = [
        ("accounts", "0002_apitoken"),
        ("auth", "0012_alter_user_first_name_max_length"),
        ("contenttypes", "0002_remove_content_type_name"),
        ("audit", "0001_initial"),
        ("auditlog", "__latest__"),
        ("backtest", "0003_trade_quantity_digits"),
        ("marketdata", "0003_candle_record"),
    ]

    operations = [migrations.RunPython(create_role_groups, migrations.RunPython.noop)]
