"""The Celery application; tasks are discovered in each app's tasks.py."""

import os

from celery import Celery

from central.correlation import connect_correlation_signals

os.environ.setdefault("DJANGO_SETTINGS_MODULE", "central.settings")

app = Celery("central")
app.config_from_object("django.conf:settings", namespace="CELERY")
app.autodiscover_tasks()
# Connected with the app: every process that publishes tasks (web, CLI, beat) or runs
# them (worker) imports it.
connect_correlation_signals()
