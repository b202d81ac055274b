"""Central project package: settings, URLs, ASGI, Celery app and shared plumbing."""

from central.celery import app as celery_app

__all__ = ("celery_app",)
