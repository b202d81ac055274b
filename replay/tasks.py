"""Celery tasks of the replay app, on the `replays` queue: thin wrappers over the
services. Each kind of task lives in its own module, imported here so Celery finds it."""

from replay.import_tasks import fetch_exchange_trades  # noqa: F401
from replay.replay_tasks import reap_stale_replays, run_replay  # noqa: F401
