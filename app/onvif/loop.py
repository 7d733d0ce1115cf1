"""OnvifLoop: the one asyncio loop, in one background thread, that runs every ONVIF call."""

from __future__ import annotations

import asyncio
import concurrent.futures
import logging
import threading
from collections.abc import Coroutine
from typing import Any, TypeVar

log = logging.getLogger(__name__)

T = TypeVar("T")
THREAD_NAME = "onvif-loop"


class OnvifLoop:
    """A daemon thread named ``onvif-loop`` running an asyncio loop.

    Thread: ``submit`` may be called from any thread and returns a
    ``concurrent.futures.Future`` at once; the GUI thread never waits on one, it adds a
    done-callback (which runs in this loop's thread) and posts the result to itself.
    """

    def __init__(self) -> None:
        self._loop: asyncio.AbstractEventLoop | None = None
        self._thread: threading.Thread | None = None
        self._lock = threading.Lock()

    @property
    def running(self) -> bool:
        return self._thread is not None and self._thread.is_alive()

    def start(self) -> None:
        with self._lock:
            if self._thread is not None:
                return
            ready = threading.Event()
            loop = asyncio.new_event_loop()

            def run() -> None:
                asyncio.set_event_loop(loop)
                loop.call_soon(ready.set)
                try:
                    loop.run_forever()
                finally:
                    try:
                        pending = asyncio.all_tasks(loop)
                        for task in pending:
                            task.cancel()
                        if pending:
                            loop.run_until_complete(
                                asyncio.gather(*pending, return_exceptions=True)
                            )
                        loop.run_until_complete(loop.shutdown_asyncgens())
                    finally:
                        loop.close()

            self._loop = loop
            self._thread = threading.Thread(target=run, name=THREAD_NAME, daemon=True)
            self._thread.start()
            ready.wait(5.0)

    def loop(self) -> asyncio.AbstractEventLoop:
        if self._loop is None:
            self.start()
        assert self._loop is not None
        return self._loop

    def submit(self, coro: Coroutine[Any, Any, T]) -> concurrent.futures.Future[T]:
        """Run ``coro`` on the loop; the future is cancelled with the coroutine's task."""
        loop = self.loop()
        if loop.is_closed():
            coro.close()
            future: concurrent.futures.Future[T] = concurrent.futures.Future()
            future.set_exception(RuntimeError("the ONVIF loop is stopped"))
            return future
        return asyncio.run_coroutine_threadsafe(coro, loop)

    def in_loop_thread(self) -> bool:
        return threading.current_thread() is self._thread

    def stop(self, timeout: float = 2.0) -> None:
        """Cancel what is pending and join the thread within ``timeout``."""
        with self._lock:
            loop, thread = self._loop, self._thread
            self._thread = None
        if loop is None or thread is None:
            return
        if not loop.is_closed():
            loop.call_soon_threadsafe(loop.stop)
        thread.join(timeout)
        if thread.is_alive():
            log.warning("onvif-loop did not stop within %.1f s", timeout)


_shared: OnvifLoop | None = None
_shared_lock = threading.Lock()


def shared_loop() -> OnvifLoop:
    """The process-wide OnvifLoop, started on first use."""
    global _shared
    with _shared_lock:
        if _shared is None or not _shared.running:
            _shared = OnvifLoop()
            _shared.start()
        return _shared
