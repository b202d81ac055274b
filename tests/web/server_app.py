"""The ASGI application the browser tests serve: Central's own, with the content-type
caches cleared before each request.

Transactional tests flush the database after each test and Django recreates the content
types with new ids; a long-lived server process would otherwise keep the old ids and
answer permission checks wrongly (the Celery worker clears them per task for the same
reason, audit/task_actor.py)."""

from central.asgi import application as central_application  # sets Django up first
from central.content_type_cache import clear_content_type_caches


async def application(scope, receive, send):
    if scope["type"] in ("http", "websocket"):
        clear_content_type_caches()
    await central_application(scope, receive, send)
