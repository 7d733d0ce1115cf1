"""MainThreadBridge: the one way core events reach the GUI thread."""

from __future__ import annotations

from collections.abc import Callable

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

    def wrap(self, handler: Callable[..., object]) -> Callable[..., None]:
        def posted(*args: object) -> None:
            self.post(lambda: handler(*args))

        return posted

    @staticmethod
    def _run(fn: Callable[[], object]) -> None:
        fn()
