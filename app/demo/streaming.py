"""On-demand H.264/MPEG-TS encoders for the virtual cameras and their fan-out to HTTP clients.

One :class:`Encoder` thread per (camera, optic, profile) renders the scene, encodes it with
PyAV ``libx264`` (ultrafast, zerolatency, 1 s GOP, no B-frames) and muxes MPEG-TS into a
file-like sink; the bytes of each frame become one chunk handed to the asyncio loop.
:class:`StreamHub` (asyncio loop thread only) starts an encoder when its first client
subscribes and stops and joins it when the last one leaves, so only watched streams cost
CPU. A new client starts at a keyframe (one is forced on join); a slow client's backlog is
dropped and it resumes at the next keyframe, so nobody ever blocks the encoder.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from fractions import Fraction

import av
import numpy as np

from app.demo.model import Fault, VirtualCamera
from app.demo.scene import SceneRenderer

log = logging.getLogger(__name__)

PROFILE_SIZES: dict[str, tuple[int, int]] = {"main": (1280, 720), "sub": (640, 360)}
DEFAULT_FPS: dict[str, int] = {"main": 25, "sub": 15}
CRF = "26"
# Backlog after which a client is considered slow: its queue is dropped and it
# resumes at the next keyframe (about 1.5 s of sub stream, 0.3 s of main).
MAX_CLIENT_BACKLOG = 1_500_000

ChunkCallback = Callable[["Encoder", bytes, bool], None]


class _ChunkSink:
    """File-like object PyAV muxes into; collects the bytes of one frame at a time."""

    def __init__(self) -> None:
        self._buf = bytearray()

    def write(self, data: bytes) -> int:
        self._buf += data
        return len(data)

    def take(self) -> bytes:
        out = bytes(self._buf)
        self._buf.clear()
        return out


class Encoder:
    """Renders and encodes one optic's profile in its own thread until stopped.

    Thread: ``start``/``stop``/``request_keyframe`` from any thread; ``on_chunk`` is
    called from the encoder thread with whole frames of MPEG-TS (188-byte aligned).
    """

    def __init__(
        self,
        camera: VirtualCamera,
        optic_index: int,
        profile: str,
        fps: int,
        on_chunk: ChunkCallback,
        *,
        on_exit: Callable[[Encoder], None] | None = None,
        stamp: bool = True,
    ) -> None:
        if profile not in PROFILE_SIZES:
            raise ValueError(f"unknown profile {profile!r}")
        self.camera = camera
        self.optic_index = optic_index
        self.profile = profile
        self.fps = fps
        self.width, self.height = PROFILE_SIZES[profile]
        self.stamp = stamp
        self._on_chunk = on_chunk
        self._on_exit = on_exit
        self._stop = threading.Event()
        self._keyframe = threading.Event()
        self.frames = 0
        self.bytes_out = 0
        self.cpu_seconds = 0.0  # thread CPU time, for budgets and tests
        self.failed: BaseException | None = None
        self._thread = threading.Thread(
            target=self._run, name=f"demo-enc-{camera.id}-{optic_index + 1}-{profile}", daemon=True
        )

    @property
    def name(self) -> str:
        return self._thread.name

    def start(self) -> None:
        self._thread.start()

    def stop(self) -> None:
        self._stop.set()

    def join(self, timeout: float | None = None) -> None:
        self._thread.join(timeout)

    def is_alive(self) -> bool:
        return self._thread.is_alive()

    def request_keyframe(self) -> None:
        self._keyframe.set()

    def _run(self) -> None:
        try:
            self._encode_loop()
        except Exception as exc:
            self.failed = exc
            log.exception("encoder %s failed", self.name)
        finally:
            self.cpu_seconds = time.thread_time()
            if self._on_exit is not None:
                self._on_exit(self)

    def _encode_loop(self) -> None:
        sink = _ChunkSink()
        container = av.open(
            sink, "w", format="mpegts", options={"flush_packets": "1", "omit_video_pes_length": "0"}
        )
        try:
            stream = container.add_stream(
                "libx264",
                rate=self.fps,
                options={
                    "preset": "ultrafast",
                    "tune": "zerolatency",
                    # A 1 s GOP, no scene-cut keyframes: clients join within a second.
                    "g": str(self.fps),
                    "x264-params": f"keyint={self.fps}:min-keyint={self.fps}:scenecut=0",
                    "bf": "0",
                    "crf": CRF,
                    # One thread per encoder: dozens of encoders must not each spawn a pool.
                    "threads": "1",
                },
            )
            stream.width, stream.height, stream.pix_fmt = self.width, self.height, "yuv420p"
            stream.codec_context.time_base = Fraction(1, self.fps)
            renderer = SceneRenderer(
                self.camera, self.optic_index, self.width, self.height, stamp=self.stamp
            )
            period = 1.0 / self.fps
            t0 = time.monotonic()
            next_t = t0
            last_pts = -1
            frozen = False
            while not self._stop.is_set():
                now = time.monotonic()
                if now < next_t:
                    self._stop.wait(next_t - now)
                    continue
                next_t += period
                if now - next_t > period:  # fell behind (CPU starved): skip, don't burst
                    next_t = now + period
                if self.camera.fault == Fault.FROZEN:
                    frozen = True
                    continue
                if frozen:
                    frozen = False
                    self._keyframe.set()
                # Wall-clock pts keep timing right across skipped and frozen frames.
                pts = max(last_pts + 1, round((now - t0) * self.fps))
                last_pts = pts
                frame = av.VideoFrame.from_ndarray(renderer.render(), format="yuv420p")
                frame.pts = pts
                if self._keyframe.is_set():
                    self._keyframe.clear()
                    frame.pict_type = av.video.frame.PictureType.I
                key = False
                for packet in stream.encode(frame):
                    key = key or packet.is_keyframe
                    container.mux(packet)
                chunk = sink.take()
                self.frames += 1
                if self.frames % 25 == 0:
                    self.cpu_seconds = time.thread_time()
                if chunk:
                    self.bytes_out += len(chunk)
                    self._on_chunk(self, chunk, key)
        finally:
            try:
                container.close()
            except av.FFmpegError:
                log.debug("closing muxer of %s", self.name, exc_info=True)


@dataclass(frozen=True, slots=True)
class EncoderInfo:
    """A snapshot of one running encoder, for tests and the CPU budget."""

    camera_id: str
    optic: int  # 1-based, as in the URL
    profile: str
    clients: int
    frames: int
    bytes_out: int
    cpu_seconds: float
    thread_name: str
    client_skips: int = 0  # backlogs dropped for slow clients (they resume at a keyframe)


@dataclass(eq=False)
class Subscriber:
    """One HTTP client of a stream: a queue of TS chunks, ``None`` meaning end of stream."""

    key: tuple[str, int, str]
    queue: asyncio.Queue[bytes | None] = field(default_factory=asyncio.Queue)
    waiting_key: bool = True
    backlog: int = 0
    skips: int = 0

    async def next_chunk(self) -> bytes | None:
        chunk = await self.queue.get()
        if chunk is not None:
            self.backlog -= len(chunk)
        return chunk

    def close(self) -> None:
        self.queue.put_nowait(None)


class StreamHub:
    """Starts encoders on demand and fans their chunks out to subscribers.

    Thread: every method except ``active`` runs in the asyncio loop thread; encoder
    threads reach it through ``call_soon_threadsafe``.
    """

    def __init__(
        self,
        loop: asyncio.AbstractEventLoop,
        fps: dict[str, int] | None = None,
        max_backlog: int = MAX_CLIENT_BACKLOG,
    ) -> None:
        self._loop = loop
        self.fps = dict(DEFAULT_FPS if fps is None else fps)
        self._encoders: dict[tuple[str, int, str], Encoder] = {}
        self._subs: dict[tuple[str, int, str], set[Subscriber]] = {}
        self._stopping: set[Encoder] = set()
        self._lock = threading.Lock()  # guards the two encoder collections for ``active``
        self._joins: set[asyncio.Future[None]] = set()
        self.max_backlog = max_backlog

    def subscribe(self, camera: VirtualCamera, optic_index: int, profile: str) -> Subscriber:
        key = (camera.id, optic_index, profile)
        sub = Subscriber(key)
        self._subs.setdefault(key, set()).add(sub)
        encoder = self._encoders.get(key)
        if encoder is None or not encoder.is_alive():
            encoder = Encoder(
                camera,
                optic_index,
                profile,
                self.fps[profile],
                self._from_thread,
                on_exit=self._exited,
            )
            with self._lock:
                self._encoders[key] = encoder
            encoder.start()
            log.info("encoder %s started", encoder.name)
        else:
            encoder.request_keyframe()
        return sub

    def unsubscribe(self, sub: Subscriber) -> None:
        subs = self._subs.get(sub.key)
        if subs is None:
            return
        subs.discard(sub)
        if not subs:
            del self._subs[sub.key]
            self._retire(sub.key)

    def close_camera(self, camera_id: str) -> None:
        """End every stream of a camera (it went offline): clients see end of stream."""
        for key in [k for k in self._subs if k[0] == camera_id]:
            for sub in self._subs.pop(key):
                sub.close()
            self._retire(key)

    def _retire(self, key: tuple[str, int, str]) -> None:
        with self._lock:
            encoder = self._encoders.pop(key, None)
            if encoder is None:
                return
            self._stopping.add(encoder)
        encoder.stop()
        fut = self._loop.run_in_executor(None, encoder.join, 5.0)
        self._joins.add(fut)

        def joined(f: asyncio.Future[None]) -> None:
            self._joins.discard(f)
            with self._lock:
                self._stopping.discard(encoder)
            log.info("encoder %s stopped after %d frames", encoder.name, encoder.frames)

        fut.add_done_callback(joined)

    async def close(self) -> None:
        """Stop every encoder and wait for their threads."""
        for key in list(self._subs):
            for sub in self._subs.pop(key):
                sub.close()
        for key in list(self._encoders):
            self._retire(key)
        if self._joins:
            await asyncio.wait(list(self._joins), timeout=2.0)

    def _from_thread(self, encoder: Encoder, chunk: bytes, key: bool) -> None:
        # RuntimeError: the loop closed while the encoder was finishing a frame.
        with contextlib.suppress(RuntimeError):
            self._loop.call_soon_threadsafe(self._dispatch, encoder, chunk, key)

    def _exited(self, encoder: Encoder) -> None:
        with contextlib.suppress(RuntimeError):
            self._loop.call_soon_threadsafe(self._ended, encoder)

    def _ended(self, encoder: Encoder) -> None:
        """An encoder thread ended on its own (it failed): end its clients' streams."""
        key = (encoder.camera.id, encoder.optic_index, encoder.profile)
        if self._encoders.get(key) is not encoder:
            return  # retired normally
        with self._lock:
            del self._encoders[key]
        for sub in self._subs.pop(key, set()):
            sub.close()

    def _dispatch(self, encoder: Encoder, chunk: bytes, key: bool) -> None:
        ekey = (encoder.camera.id, encoder.optic_index, encoder.profile)
        if self._encoders.get(ekey) is not encoder:
            return
        if encoder.camera.fault == Fault.FROZEN:
            return
        for sub in self._subs.get(ekey, ()):
            if sub.waiting_key:
                if not key:
                    continue
                sub.waiting_key = False
            if sub.backlog + len(chunk) > self.max_backlog:
                # Drop the backlog, not the client: it resumes at the next keyframe.
                while not sub.queue.empty():
                    sub.queue.get_nowait()
                sub.backlog = 0
                sub.skips += 1
                sub.waiting_key = True
                if not key:
                    continue
                sub.waiting_key = False
            sub.backlog += len(chunk)
            sub.queue.put_nowait(chunk)

    def active(self) -> list[EncoderInfo]:
        """Running encoders (including ones still joining). Thread-safe."""
        with self._lock:
            current = list(self._encoders.values())
            encoders = current + list(self._stopping)
        out = []
        for e in encoders:
            if not e.is_alive():
                continue
            key = (e.camera.id, e.optic_index, e.profile)
            out.append(
                EncoderInfo(
                    camera_id=key[0],
                    optic=key[1] + 1,
                    profile=key[2],
                    clients=len(self._subs.get(key, ())) if e in current else 0,
                    frames=e.frames,
                    bytes_out=e.bytes_out,
                    cpu_seconds=e.cpu_seconds,
                    thread_name=e.name,
                    client_skips=sum(sub.skips for sub in tuple(self._subs.get(key, ())))
                    if e in current
                    else 0,
                )
            )
        return out


def snapshot_jpeg(camera: VirtualCamera, optic_index: int, profile: str = "main") -> bytes:
    """A JPEG of the optic's current picture (blocking, ~10 ms; run it off the loop)."""
    width, height = PROFILE_SIZES[profile]
    picture = SceneRenderer(camera, optic_index, width, height, stamp=False).render()
    frame = av.VideoFrame.from_ndarray(np.ascontiguousarray(picture), format="yuv420p")
    codec = av.CodecContext.create("mjpeg", "w")
    codec.width, codec.height, codec.pix_fmt = width, height, "yuvj420p"
    codec.time_base = Fraction(1, 25)
    packets = codec.encode(frame.reformat(format="yuvj420p"))
    packets += codec.encode(None)
    return b"".join(bytes(p) for p in packets)
