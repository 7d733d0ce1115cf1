"""MainThreadBridge: the one way core events reach the GUI thread."""

from __future__ import annotations

from collections.abc import Callable

import shiboken6
from PySide6.QtCore import QObject, Qt, Signal


class MainThreadBridge(QObject):
    """Runs closures on the GUI thread; ``post`` may be called from any thread.

    Core events fire in worker threads; a handler wrapped with ``wrap`` re-posts
    itself through a queued signal, so widgets are only ever touched by the GUI thread.
    """

    _call = Signal(object)

    def __init__(self, parent: QObject | None = None) -> None:
        super().__init__(parent)
        self._call.connect(self._run, Qt.ConnectionType.QueuedConnection)

    def post(self, fn: Callable[[], object]) -> None:
        self._call.emit(fn)

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

    @staticmethod
    def _run(fn: Callable[[], object]) -> None:
        fn()
