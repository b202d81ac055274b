"""Equity and exposure are raw floats that do not compress: store them out of line
without PostgreSQL's compression attempt (see backtest/equity_codec.py)."""

from django.db import migrations

COLUMNS = ("equity", "exposure")


class Migration(migrations.Migration):
    dependencies = [("backtest", "0001_initial")]

    operations = [
        migrations.RunSQL(
            sql=[
                f"ALTER TABLE backtest_equitycurve ALTER COLUMN {column} SET STORAGE EXTERNAL"
                for column in COLUMNS
            ],
            reverse_sql=[
                f"ALTER TABLE backtest_equitycurve ALTER COLUMN {column} SET STORAGE EXTENDED"
                for column in COLUMNS
            ],
        )
    ]
