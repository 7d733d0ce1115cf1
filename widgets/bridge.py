"""MainThreadBridge: the one way core events reach the GUI thread."""

from __future__ import annotations

import logging
import threading
from collections import deque
from collections.abc import Callable

import shiboken6
from PySide6.QtCore import QObject, Qt, Signal


class MainThreadBridge(QObject):
    """Runs closures on the GUI thread; ``post`` may be called from any thread.

    Core events fire in worker threads; a handler wrapped with ``wrap`` re-posts
    itself to the GUI thread, so widgets are only ever touched by the GUI thread.
    Closures posted while one delivery is pending join it: a burst (64 streams changing
    status as a wall starts) costs the GUI thread one queued event, not one per closure,
    and they run in the order they were posted.
    """

    _call = Signal()

    def __init__(self, parent: QObject | None = None) -> None:
        super().__init__(parent)
        # Re-entrant: a Python signal handler (SIGTERM → post(window.close)) runs on the GUI
        # thread between two bytecodes, possibly while _run holds the lock.
        self._lock = threading.RLock()
        self._pending: deque[Callable[[], object]] = deque()
        self._call.connect(self._run, Qt.ConnectionType.QueuedConnection)

    def post(self, fn: Callable[[], object]) -> None:
        with self._lock:
            self._pending.append(fn)
            if len(self._pending) > 1:
                return  # a delivery is already on its way; it will run this one too
        self._call.emit()

    def wrap(
        self, handler: Callable[..., object], owner: QObject | None = None
    ) -> Callable[..., None]:
        """``handler`` re-posted to the GUI thread; dropped once ``owner`` has been deleted.

        Core signals outlive views: an event already queued when a view is closed must not
        reach its deleted C++ object.
        """

        def run(args: tuple[object, ...]) -> None:
            if owner is None or shiboken6.isValid(owner):
                handler(*args)

        def posted(*args: object) -> None:
            self.post(lambda: run(args))

        return posted

    def _run(self) -> None:
        while True:
            with self._lock:
                if not self._pending:
                    return
                fn = self._pending[0]
            try:
                fn()
            except Exception:  # one failing handler must not drop the others of the batch
                log.exception("handler posted to the GUI thread failed")
            with self._lock:
                self._pending.popleft()


log = logging.getLogger(__name__)
