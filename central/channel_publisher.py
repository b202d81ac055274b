"""Publishing to channel-layer groups from synchronous code (workers, commands), cheaply.

`async_to_sync(layer.group_send)` runs each call on a fresh event loop, and the Redis
layer opens a new connection per loop: about 12 ms a message, which a backtest sending
fifty progress updates a second cannot afford. Here one background thread per process
owns a loop (so the layer keeps its connection) and sends queued messages in order;
the caller does not wait, except for `flush`, which a job calls after its final message
so that message is out before the process may exit.
"""

from __future__ import annotations

import asyncio
import logging
import os
import threading
from concurrent.futures import Future

from channels.layers import get_channel_layer

logger = logging.getLogger(__name__)


class _Publisher:
    def __init__(self) -> None:
        self.pid = os.getpid()
        self.loop = asyncio.new_event_loop()
        self.queue: asyncio.Queue | None = None
        ready = threading.Event()
        self.thread = threading.Thread(
            target=self._run, args=(ready,), name="channel-publisher", daemon=True
        )
        self.thread.start()
        ready.wait()

    def _run(self, ready: threading.Event) -> None:
        asyncio.set_event_loop(self.loop)
        self.queue = asyncio.Queue()
        self.loop.create_task(self._send_in_order())
        self.loop.call_soon(ready.set)
        self.loop.run_forever()

    async def _send_in_order(self) -> None:
        layer = get_channel_layer()
        while True:
            group, message, done = await self.queue.get()
            try:
                if group is not None and layer is not None:
                    await layer.group_send(group, message)
            except Exception:
                logger.warning("could not publish to %s", group, exc_info=True)
            finally:
                if done is not None:
                    done.set_result(None)

    def put(self, group: str | None, message: dict | None, done: Future | None = None) -> None:
        self.loop.call_soon_threadsafe(self.queue.put_nowait, (group, message, done))


_publisher: _Publisher | None = None
_lock = threading.Lock()


def _current() -> _Publisher:
    global _publisher
    with _lock:
        # A forked worker process inherits the object but not the thread: start anew.
        if _publisher is None or _publisher.pid != os.getpid():
            _publisher = _Publisher()
        return _publisher


def publish(group: str, message: dict) -> None:
    """Queue a message for the group; returns at once."""
    _current().put(group, message)


def flush(timeout: float = 5.0) -> None:
    """Wait until every message queued so far has been sent (or timeout seconds)."""
    done: Future = Future()
    _current().put(None, None, done)
    try:
        done.result(timeout)
    except TimeoutError:
        logger.warning("channel messages still unsent after %s s", timeout)


def publish_progress(group: str, payload: dict, *, final: bool) -> None:
    """A job's state for its watchers (the `run.progress` event RunProgressConsumer
    forwards); a final state is waited for, so it is out before a command exits."""
    publish(group, {"type": "run.progress", "payload": payload})
    if final:
        flush()
