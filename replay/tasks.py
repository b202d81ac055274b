"""Celery tasks of the replay app, on the `replays` queue: thin wrappers over the
services. Each kind of task lives in its own module, imported here so Celery finds it."""
