"""StatusBoard: camera status derived from the engine's stream statuses, for tree, map and tiles."""

from __future__ import annotations

import threading

from app.events import Signal
from app.streams.engine import StreamEngine
from app.streams.status import CameraStatus, StreamState, StreamStatus, camera_status


class StatusBoard:
    """Knows which stream belongs to which camera and summarises them per camera.

    Thread: ``on_stream_status`` runs in worker threads; queries from any thread.

    Events:
        camera_status_changed(camera_id, CameraStatus, StreamStatus): the summary or the
            representative stream status of a camera changed.
    """

    def __init__(self, engine: StreamEngine) -> None:
        self._lock = threading.Lock()
        self._owner: dict[str, str] = {}  # stream key → camera id
        self._streams: dict[str, StreamStatus] = {}
        self._cameras: dict[str, tuple[CameraStatus, StreamStatus]] = {}
        self.camera_status_changed: Signal[[str, CameraStatus, StreamStatus]] = Signal()
        engine.status_changed.connect(self.on_stream_status)
        engine.closed.connect(self._on_closed)

    def bind(self, stream_key: str, camera_id: str) -> None:
        with self._lock:
            self._owner[stream_key] = camera_id

    def _on_closed(self, key: str) -> None:
        with self._lock:
            self._streams.pop(key, None)
            camera = self._owner.get(key)
        if camera:
            self._recompute(camera)

    def on_stream_status(self, key: str, status: StreamStatus) -> None:
        with self._lock:
            camera = self._owner.get(key)
            if status.state == StreamState.IDLE:
                self._streams.pop(key, None)
            else:
                self._streams[key] = status
        if camera:
            self._recompute(camera)

    def _recompute(self, camera: str) -> None:
        with self._lock:
            statuses = [s for k, s in self._streams.items() if self._owner.get(k) == camera]
            summary = camera_status([s.state for s in statuses])
            worst = _representative(statuses)
            old = self._cameras.get(camera)
            if old == (summary, worst):
                return
            self._cameras[camera] = (summary, worst)
        self.camera_status_changed.emit(camera, summary, worst)

    def camera(self, camera_id: str) -> tuple[CameraStatus, StreamStatus]:
        with self._lock:
            return self._cameras.get(camera_id, (CameraStatus.IDLE, StreamStatus(StreamState.IDLE)))


def _representative(statuses: list[StreamStatus]) -> StreamStatus:
    """The status to show for a camera: the first non-live one, else a live one."""
    for s in statuses:
        if s.state != StreamState.LIVE:
            return s
    return statuses[0] if statuses else StreamStatus(StreamState.IDLE)
