"""A minimal thread-safe signal for the core: callbacks, no Qt."""

from __future__ import annotations

import logging
import threading
from collections.abc import Callable
from typing import Generic, ParamSpec

P = ParamSpec("P")
logger = logging.getLogger(__name__)


class Signal(Generic[P]):
    """A list of callbacks called in the emitting thread.

    Thread: ``emit`` may be called from any thread; handlers run in that thread.
    Views marshal to the GUI thread themselves (see ``widgets.bridge``).
    """

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._handlers: list[Callable[P, object]] = []

    def connect(self, handler: Callable[P, object]) -> None:
        with self._lock:
            self._handlers.append(handler)

    def disconnect(self, handler: Callable[P, object]) -> None:
        with self._lock:
            if handler in self._handlers:
                self._handlers.remove(handler)

    def emit(self, *args: P.args, **kwargs: P.kwargs) -> None:
        with self._lock:
            handlers = list(self._handlers)
        for handler in handlers:
            try:
                handler(*args, **kwargs)
            except Exception:
                # One broken subscriber must not stop the others or kill a worker thread.
                logger.exception("signal handler %r failed", handler)
