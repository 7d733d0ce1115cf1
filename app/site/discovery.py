"""Streams of cameras known only by their ONVIF address, found in the background."""

from __future__ import annotations

import concurrent.futures
import logging
import threading
from collections.abc import Callable, Iterable
from dataclasses import replace

from app.events import Signal
from app.site.model import Camera, Optic, Stream, StreamRole

logger = logging.getLogger(__name__)

Discover = Callable[[Camera], "concurrent.futures.Future[list[tuple[int, str, str]]]"]


def needs_discovery(camera: Camera) -> bool:
    """A camera with an ONVIF endpoint and an optic without streams."""
    return camera.onvif is not None and any(not o.streams for o in camera.optics)


def camera_with_streams(camera: Camera, found: Iterable[tuple[int, str, str]]) -> Camera:
    """``camera`` with the streams ONVIF reported, ``(optic index, role, url)`` each.

    A device with several video sources becomes one camera with that many optics; optics
    the site file already gave streams keep them.
    """
    credential = camera.onvif.credential if camera.onvif else None
    by_optic: dict[int, list[Stream]] = {}
    for optic, role, url in found:
        if role in (StreamRole.MAIN, StreamRole.SUB):
            by_optic.setdefault(optic, []).append(Stream(StreamRole(role), url, credential))
    count = max(len(camera.optics), max(by_optic, default=-1) + 1)
    optics = []
    for i in range(count):
        base = camera.optics[i] if i < len(camera.optics) else Optic(index=i, name=f"Optic {i + 1}")
        optics.append(replace(base, streams=base.streams or tuple(by_optic.get(i, ()))))
    return replace(camera, optics=tuple(optics))


class StreamDiscovery:
    """Asks each ONVIF-only camera for its media profiles, retrying until it answers.

    Thread: ``start``/``stop`` from any thread; ``camera_discovered`` is emitted from the
    thread that completes the ONVIF future (views marshal it to the GUI thread).

    Events:
        camera_discovered(Camera): the camera with its streams (and optics) filled in.
    """

    def __init__(
        self, discover: Discover, retry_initial: float = 2.0, retry_max: float = 60.0
    ) -> None:
        self._discover = discover
        self._retry_initial = retry_initial
        self._retry_max = retry_max
        self._stopped = threading.Event()
        self._timers: list[threading.Timer] = []
        self._lock = threading.Lock()
        self.camera_discovered: Signal[[Camera]] = Signal()
        self.errors: dict[str, str] = {}

    def start(self, cameras: Iterable[Camera]) -> int:
        """Start discovery for every camera that needs it; returns how many."""
        todo = [c for c in cameras if needs_discovery(c)]
        for camera in todo:
            self._attempt(camera, self._retry_initial)
        return len(todo)

    def _attempt(self, camera: Camera, delay: float) -> None:
        if self._stopped.is_set():
            return
        try:
            future = self._discover(camera)
        except Exception as exc:  # a bad endpoint must not stop the others
            self._failed(camera, exc, delay)
            return
        future.add_done_callback(lambda f: self._done(camera, f, delay))

    def _done(
        self, camera: Camera, f: concurrent.futures.Future[list[tuple[int, str, str]]], delay: float
    ) -> None:
        if f.cancelled() or self._stopped.is_set():
            return
        exc = f.exception()
        if exc is not None:
            self._failed(camera, exc, delay)
            return
        found = f.result()
        if not found:
            self._failed(camera, RuntimeError("the device reported no video profiles"), delay)
            return
        self.errors.pop(camera.id, None)
        self.camera_discovered.emit(camera_with_streams(camera, found))

    def _failed(self, camera: Camera, exc: BaseException, delay: float) -> None:
        self.errors[camera.id] = str(exc)
        logger.info("ONVIF discovery of %s failed (%s); retrying in %.0f s", camera.id, exc, delay)
        timer = threading.Timer(delay, self._attempt, (camera, min(self._retry_max, delay * 2)))
        timer.daemon = True
        timer.name = f"onvif-discovery-{camera.id}"
        with self._lock:
            self._timers = [t for t in self._timers if t.is_alive()] + [timer]
        timer.start()

    def stop(self) -> None:
        self._stopped.set()
        with self._lock:
            for t in self._timers:
                t.cancel()
