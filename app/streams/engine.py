"""StreamEngine: opens each stream once, shares it between views, watches and stops workers."""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field, replace

import av

from app.events import Signal
from app.site.model import Stream, StreamRole
from app.streams.frames import FrameRequest, FrameSlot, PixelFormat
from app.streams.stats import StatsSnapshot
from app.streams.status import StreamState, StreamStatus
from app.streams.urls import redact
from app.streams.worker import StreamOptions, StreamWorker

logger = logging.getLogger(__name__)

# FFmpeg's log callback into Python is a known deadlock and contention source with many
# decoder threads (PyAV #751, #2276); errors still reach us as exceptions.
av.logging.set_level(None)


@dataclass(eq=False)
class StreamHandle:
    """One view's claim on an open stream. Release it when the view no longer shows it."""

    key: str
    worker: StreamWorker
    request: FrameRequest = field(default_factory=FrameRequest)

    @property
    def slot(self) -> FrameSlot:
        return self.worker.slot

    @property
    def status(self) -> StreamStatus:
        return self.worker.status

    def stats(self) -> StatsSnapshot:
        return self.worker.stats.snapshot(self.worker.slot.replaced)


class StreamEngine:
    """Owns every StreamWorker of the application.

    Streams are keyed by URL: two tiles showing the same stream share one decoder.
    A watchdog thread marks connected streams without frames as stalled.

    Thread: all public methods may be called from any thread (usually the GUI).

    Events:
        status_changed(key, StreamStatus): from worker or watchdog threads.
        opened(key) / closed(key): a worker started or stopped.
    """

    def __init__(
        self,
        options: StreamOptions | None = None,
        url_resolver: Callable[[Stream], str] | None = None,
    ) -> None:
        self.options = options or StreamOptions()
        self._url_resolver = url_resolver
        self._lock = threading.Lock()
        self._workers: dict[str, StreamWorker] = {}
        self._handles: dict[str, list[StreamHandle]] = {}
        # Released workers not yet joined: closing the window releases every feed before
        # shutdown(), and shutdown() must join those too, not only the ones still open.
        self._stopping: set[StreamWorker] = set()
        self.status_changed: Signal[[str, StreamStatus]] = Signal()
        self.opened: Signal[[str]] = Signal()
        self.closed: Signal[[str]] = Signal()
        self._stop = threading.Event()
        self._watchdog = threading.Thread(target=self._watch, name="stream-watchdog", daemon=True)
        self._watchdog.start()

    # -- opening and closing -------------------------------------------------------------
    def open(self, stream: Stream | str, label: str = "") -> StreamHandle:
        """Claim a stream; starts its worker if nobody watches it yet."""
        if isinstance(stream, str):
            stream = Stream(role=StreamRole.SUB, url=stream)
        key = stream.url
        with self._lock:
            worker = self._workers.get(key)
            if worker is None:
                options = replace(self.options, transport=stream.transport)
                resolver = None
                if self._url_resolver is not None and stream.credential is not None:
                    captured = stream
                    resolve = self._url_resolver
                    resolver = lambda: resolve(captured)  # noqa: E731
                worker = StreamWorker(
                    stream.url, label=label or redact(key), options=options, url_resolver=resolver
                )
                worker.status_changed.connect(self._forward_status(key, worker))
                self._workers[key] = worker
                self._handles[key] = []
                worker.start()
                started = True
            else:
                started = False
            handle = StreamHandle(key, worker)
            self._handles[key].append(handle)
        if started:
            self.opened.emit(key)
        return handle

    def _forward_status(self, key: str, worker: StreamWorker) -> Callable[[StreamStatus], None]:
        def forward(status: StreamStatus) -> None:
            with self._lock:
                current = self._workers.get(key)
            # A released worker still reports (its final "stopped", or a status it was about
            # to send); once the stream is open again under the same key those are the old
            # worker's, and the camera's status would fall back to idle while the new one is
            # live. A released key with no successor still gets them.
            if current is None or current is worker:
                self.status_changed.emit(key, status)

        return forward

    def release(self, handle: StreamHandle) -> None:
        """Drop a claim; the last release stops the worker (not waiting for it)."""
        with self._lock:
            handles = self._handles.get(handle.key, [])
            if handle in handles:
                handles.remove(handle)
            if handles:
                self._merge_requests(handle.key)
                return
            worker = self._workers.pop(handle.key, None)
            self._handles.pop(handle.key, None)
            if worker is not None:
                self._stopping.add(worker)
        if worker is not None:
            # Neither joined here nor by a thread started for it: the caller (often the GUI
            # thread) must not wait on a worker blocked in a socket call (stop() aborts it,
            # but only at FFmpeg's next poll), and Thread.start() itself waits for the new
            # thread to run (the GIL, a CPU): a 4x4 layout switch releasing 16 streams cost
            # the GUI thread ~70 ms of such waits. The watchdog forgets the worker once its
            # thread has ended; shutdown() joins the ones still running.
            worker.stop()
            self.closed.emit(handle.key)

    def set_request(self, handle: StreamHandle, request: FrameRequest) -> None:
        """Tell the decoder what this view wants; merged over every view of the stream."""
        handle.request = request
        with self._lock:
            self._merge_requests(handle.key)

    def _merge_requests(self, key: str) -> None:
        handles = self._handles.get(key, [])
        worker = self._workers.get(key)
        if worker is None or not handles:
            return
        requests = [h.request for h in handles]
        if any(r.format == PixelFormat.YUV420P for r in requests):
            merged = FrameRequest(PixelFormat.YUV420P, 0, 0)
        elif any(r.width == 0 for r in requests):
            merged = FrameRequest(PixelFormat.BGRA, 0, 0)
        else:
            merged = FrameRequest(
                PixelFormat.BGRA, max(r.width for r in requests), max(r.height for r in requests)
            )
        worker.slot.request = merged

    # -- queries --------------------------------------------------------------------------
    def open_keys(self) -> list[str]:
        with self._lock:
            return list(self._workers)

    def worker(self, key: str) -> StreamWorker | None:
        with self._lock:
            return self._workers.get(key)

    def status(self, key: str) -> StreamStatus:
        worker = self.worker(key)
        return worker.status if worker else StreamStatus(StreamState.IDLE)

    # -- lifecycle ------------------------------------------------------------------------
    def _watch(self) -> None:
        while not self._stop.wait(0.25):
            now = time.monotonic()
            with self._lock:
                workers = list(self._workers.values())
                if self._stopping:
                    self._stopping = {w for w in self._stopping if w.alive}
            for w in workers:
                w.check_stall(now)

    def shutdown(self, timeout: float = 2.0) -> list[str]:
        """Stop every worker and join them within ``timeout`` seconds in all.

        Returns the labels of workers that did not finish in time (each is blocked in a
        socket call bounded by FFmpeg's timeout and, being a daemon, cannot hold the process).
        """
        self._stop.set()
        with self._lock:
            workers = list(self._workers.values())
            self._workers.clear()
            self._handles.clear()
            released = list(self._stopping)
        for w in workers:
            w.stop()
        workers += released  # already stopped by release(); joined against the same deadline
        deadline = time.monotonic() + timeout
        late = []
        for w in workers:
            if not w.join(max(0.0, deadline - time.monotonic())):
                late.append(w.label)
        self._watchdog.join(max(0.0, deadline - time.monotonic()))
        if late:
            logger.warning("stream workers still blocked in I/O at shutdown: %s", late)
        return late
