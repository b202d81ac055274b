"""The ASGI application the browser tests serve: Central's own, with the ContentType
cache cleared before each request.

Transactional tests flush the database after each test and Django recreates the content
types with new ids; a long-lived server process would otherwise keep the old ids and
answer permission checks wrongly (the Celery worker clears it per task for the same
reason, audit/task_actor.py)."""

from central.asgi import application as central_application


async def application(scope, receive, send):
    from django.contrib.contenttypes.models import ContentType  # after Django is set up

    if scope["type"] in ("http", "websocket"):
        ContentType.objects.clear_cache()
    await central_application(scope, receive, send)
