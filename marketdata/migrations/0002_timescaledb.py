"""Make the candle table a TimescaleDB hypertable when the server offers the extension."""

from django.db import migrations

from marketdata import timescale


def forwards(apps, schema_editor):
    with schema_editor.connection.cursor() as cursor:
        if timescale.extension_available(cursor):
            timescale.install(cursor)


def backwards(apps, schema_editor):
    with schema_editor.connection.cursor() as cursor:
        timescale.uninstall(cursor)


class Migration(migrations.Migration):
    # Continuous aggregates cannot be created inside a transaction block.
    atomic = False

    dependencies = [("marketdata", "0001_initial")]

    operations = [migrations.RunPython(forwards, backwards)]
