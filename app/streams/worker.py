"""StreamWorker: one thread that opens, decodes and reconnects one stream forever."""

from __future__ import annotations

import atexit
import logging
import os
import queue
import random
import threading
import time
import weakref
from collections.abc import Callable
from dataclasses import dataclass, replace
from fractions import Fraction
from typing import Any

import av
import numpy as np
from av.video.reformatter import VideoReformatter

from app.events import Signal
from app.streams import abort
from app.streams.frames import FrameRequest, FrameSlot, PixelFormat, VideoFrame
from app.streams.stamp import block_size, read_stamp
from app.streams.stats import StreamStats
from app.streams.status import StreamState, StreamStatus, classify_error, describe_error

logger = logging.getLogger(__name__)

abort.install()
# Workers whose thread runs. At interpreter exit they are stopped and joined (atexit runs
# before finalisation): a daemon thread still inside FFmpeg when the interpreter finalises can
# crash the process as it takes the GIL in PyAV's interrupt callback (seen once in a script
# that exited without stopping its workers). The application joins its workers itself.
_running: weakref.WeakSet[StreamWorker] = weakref.WeakSet()


@atexit.register
def _stop_running_workers(timeout: float = 2.0) -> None:
    workers = list(_running)
    for w in workers:
        w.stop()
    deadline = time.monotonic() + timeout
    for w in workers:
        w.join(max(0.0, deadline - time.monotonic()))


@dataclass(frozen=True, slots=True)
class StreamOptions:
    """How a stream is opened and kept alive. Times in seconds."""

    transport: str = "tcp"  # rtsp only: "tcp" (default, robust) or "udp"
    timeout: float = 5.0  # FFmpeg socket timeout: open, and each read
    stall_after: float = 3.0  # no frame for this long while connected → stalled
    backoff_initial: float = 0.5
    backoff_max: float = 30.0
    decoder_threads: int = 1  # SLICE threading; more threads add no latency, FRAME would
    loop_files: bool = True  # local files restart at the end, so a demo clip plays forever
    # Decode threads yield the CPU to the GUI thread when the machine is saturated (Linux:
    # per-thread nice): a late picture is better than a frozen window, and the load policy
    # then sheds decoding. 2 cores, 8x8 wall: display clock p99 lateness 225-500 → 70-225 ms.
    thread_nice: int = 5


def backoff_delay(attempt: int, options: StreamOptions, rng: random.Random) -> float:
    """Exponential backoff with full jitter in [50 %, 100 %] of the step, capped."""
    # The exponent is capped before the cap on the step: 2**1024 overflows a float, and a
    # camera down for a night reaches attempt 1024 after ~6 h (the thread would die).
    step = min(options.backoff_max, options.backoff_initial * (2 ** min(attempt, 32)))
    return float(step * (0.5 + 0.5 * rng.random()))


def open_options(url: str, options: StreamOptions) -> dict[str, str]:
    """FFmpeg options for a live source (see docs/ARCHITECTURE.md for the reasons)."""
    us = str(int(options.timeout * 1_000_000))
    # A small probe starts the picture fast; the frame rate is then unknown, which live
    # display does not need. nobuffer is avoided: it delays the first picture to the next IDR.
    opts = {"probesize": "100000", "analyzeduration": "0"}
    scheme = url.split(":", 1)[0].lower()
    if scheme in ("rtsp", "rtsps"):
        opts.update(rtsp_transport=options.transport, timeout=us, allowed_media_types="video")
        # RTSP needs no format probe and the SDP carries the parameter sets, so the
        # smallest probe: with 100 kB FFmpeg buffered ~1 s of video before the first
        # picture (measured: first frame 1.1 s after open, then a 1 s burst; with 32
        # bytes, 60 ms, or the wait for the next key frame). Other schemes keep 100 kB,
        # which format probing of an unnamed HTTP stream needs (at least 2 kB).
        opts["probesize"] = "32"
    elif scheme in ("http", "https"):
        opts.update(timeout=us, rw_timeout=us, reconnect="0")
    return opts


class StreamWorker:
    """Decodes one stream in its own thread and hands the newest frame to a FrameSlot.

    Thread: ``start``/``stop``/``join``/``set_*`` from any thread; the loop runs in
    the thread "stream-<label>". It never touches a view and never waits on one.

    Events:
        status_changed(StreamStatus): emitted from the worker (or watchdog) thread.
    """

    def __init__(
        self,
        url: str,
        *,
        label: str = "",
        options: StreamOptions | None = None,
        url_resolver: Callable[[], str] | None = None,
        seed: int | None = None,
    ) -> None:
        self.url = url
        self.label = label or url
        self.options = options or StreamOptions()
        # Resolves credentials at each connect, so a fixed secret is picked up without restart.
        self._url_resolver = url_resolver
        self.slot = FrameSlot()
        self.stats = StreamStats()
        self.status_changed: Signal[[StreamStatus]] = Signal()
        self._status = StreamStatus.now(StreamState.IDLE)
        self._status_lock = threading.Lock()
        self._stop = threading.Event()
        self._start_requested = False
        self._launched = threading.Event()  # the starter thread has started (or skipped) it
        # Set by the decode thread while a container is open: arms its read guard (abort.py).
        self._read_abort: Callable[[], None] | None = None
        self._keyframes_only = False
        self._seq = 0
        self._rng = random.Random(seed)
        self._thread = threading.Thread(target=self._run, name=f"stream-{self.label}", daemon=True)
        # One scaler for the stream's life: frame.reformat() builds a new SwsContext (with
        # automatic threads) for every frame; reusing one, single-threaded, costs 0.15
        # instead of 0.45 ms CPU per 640x360 frame (BENCHMARKS.md). Decode thread only.
        self._reformatter = VideoReformatter()
        self._connected = False
        # When the current connection opened (monotonic); stalls count from its first picture.
        self._connected_at = 0.0
        # Pictures since the stream was marked stalled: two mean they flow again.
        self._frames_since_stall = 0
        # Last sign of life from the source (a packet or the open), for classify_error.
        self._last_progress = 0.0

    # -- control -------------------------------------------------------------------------
    def start(self) -> None:
        """Start decoding; returns at once (the thread is started by the starter thread)."""
        _running.add(self)
        self._start_requested = True
        _starter.submit(self)

    def _launch(self) -> None:
        """On the starter thread: start the decode thread (unless stopped before it ran)."""
        try:
            if not self._stop.is_set():
                self._thread.start()
            else:
                _running.discard(self)
        finally:
            self._launched.set()

    def stop(self) -> None:
        self._stop.set()
        # Unblock an open or read waiting on a silent camera now, not at the socket timeout.
        abort.abort(self._thread)
        read_abort = self._read_abort
        if read_abort is not None:
            read_abort()

    def join(self, timeout: float | None = None) -> bool:
        deadline = None if timeout is None else time.monotonic() + timeout
        if self._start_requested and not self._launched.wait(timeout):
            return False
        if self._thread.is_alive():
            self._thread.join(None if deadline is None else max(0.0, deadline - time.monotonic()))
        return not self._thread.is_alive()

    @property
    def alive(self) -> bool:
        """Started and not finished (counting a start still queued on the starter thread)."""
        return (self._start_requested and not self._launched.is_set()) or self._thread.is_alive()

    def set_keyframes_only(self, on: bool) -> None:
        """Decode only key frames (cheap thumbnails for small or demoted tiles)."""
        self._keyframes_only = on
        self.stats.keyframes_only = on

    @property
    def keyframes_only(self) -> bool:
        return self._keyframes_only

    @property
    def status(self) -> StreamStatus:
        return self._status

    def _set_status(self, status: StreamStatus) -> None:
        with self._status_lock:
            old = self._status
            if old.state == status.state and old.reason == status.reason:
                if status.next_retry_at == old.next_retry_at:
                    return
                status = replace(status, since=old.since)
            self._status = status
        self.status_changed.emit(status)

    def check_stall(self, now: float) -> None:
        """Called by the engine's watchdog: marks a connected stream without frames as stalled."""
        if not self._connected or self._status.state not in (
            StreamState.LIVE,
            StreamState.CONNECTING,
        ):
            return
        last = self.stats.last_frame_at
        if last is None or last < self._connected_at:
            return  # no picture on this connection yet: the open's and read's timeouts apply
        if now - last > self._stall_limit():
            self._frames_since_stall = 0
            self._set_status(
                StreamStatus(
                    StreamState.STALLED,
                    f"no picture for {now - last:.0f} s",
                    time.time() - (now - last),
                )
            )

    def _stall_limit(self) -> float:
        """Seconds without a picture after which a connected stream counts as stalled."""
        # Key frames only: one picture a GOP, which cameras stretch to several seconds.
        if self._keyframes_only:
            return max(self.options.stall_after, 12.0)
        return self.options.stall_after

    # -- thread --------------------------------------------------------------------------
    def _run(self) -> None:
        _lower_thread_priority(self.options.thread_nice)
        attempt = 0
        while not self._stop.is_set():
            self._set_status(StreamStatus.now(StreamState.CONNECTING))
            started = time.monotonic()
            self._last_progress = started
            try:
                url = self._url_resolver() if self._url_resolver else self.url
                got_frames = self._session(url, started)
                if got_frames:
                    attempt = 0
                if self._stop.is_set():
                    break
                if is_local(self.url) and self.options.loop_files and got_frames:
                    continue
                status = StreamStatus.now(StreamState.OFFLINE, "stream closed by the device")
            except Exception as exc:  # every failure is a status, never a dead thread
                if self._stop.is_set():
                    break
                # How long the failing call waited, not how long the session lasted: an hour
                # live and then a reset is no timeout.
                waited = time.monotonic() - max(started, self._last_progress)
                status = classify_error(exc, waited, self.options.timeout)
                logger.info(
                    "stream %s: %s (%s: %s)",
                    self.label,
                    status.state,
                    type(exc).__name__,
                    describe_error(exc),
                )
                if self.stats.last_frame_at is not None and self.stats.last_frame_at > started:
                    attempt = 0
            finally:
                self._connected = False
            delay = backoff_delay(attempt, self.options, self._rng)
            attempt += 1
            self._set_status(replace(status, next_retry_at=time.time() + delay))
            self.stats.reconnects += 1
            if self._stop.wait(delay):
                break
        self._set_status(StreamStatus.now(StreamState.IDLE, "stopped"))
        abort.clear(threading.current_thread())
        _running.discard(self)

    def _session(self, url: str, started: float) -> bool:
        """One connection: open, decode until the stream ends or stop. True if frames came."""
        opts = open_options(url, self.options)
        got = False
        # The open guard arms the abort check of stop() for the open (abort.py). Reads get no
        # guard (one costs the GIL on every socket read): stop() arms the guard of a blocked
        # read through ``read_aborter`` instead, so a worker on a camera that froze mid-stream
        # stops at once, not after the socket timeout. An abort surfaces as ExitError, which
        # the loop ignores when stopping.
        container: Any = av.open(url, options=opts, timeout=(self.options.timeout * 2, None))
        self._read_abort = abort.read_aborter(container)
        if self._stop.is_set() and self._read_abort is not None:
            self._read_abort()  # stop() came between the open and here
        try:
            if not container.streams.video:
                raise av.error.DecoderNotFoundError(0, "no video stream in the source")
            stream = container.streams.video[0]
            cc = stream.codec_context
            cc.thread_type = "SLICE"
            cc.thread_count = self.options.decoder_threads
            self.stats.codec = cc.name
            self.stats.reset_timeline()
            self._connected_at = time.monotonic()
            self._last_progress = self._connected_at
            self._connected = True
            time_base: Fraction | None = stream.time_base
            skipping = False
            # A local file is played at its own pace, like a camera, not as fast as it decodes.
            pace = is_local(url)
            wall0: float | None = None
            pts0 = 0.0
            for packet in container.demux(stream):
                if self._stop.is_set():
                    break
                now = time.monotonic()
                self._last_progress = now
                if packet.size:
                    self.stats.on_packet(packet.size, now)
                if self._keyframes_only:
                    # Skip non-key packets before the decoder sees them: ~0 CPU between key frames.
                    if not packet.is_keyframe:
                        skipping = True
                        continue
                elif skipping:
                    # Back to full decode: wait for the next key frame so no smeared picture shows.
                    if not packet.is_keyframe:
                        continue
                    skipping = False
                t0 = time.perf_counter()
                try:
                    frames = cc.decode(packet)
                except av.error.InvalidDataError:
                    # One damaged packet (cut off by a network fault) is not the end of the
                    # stream: skip it, the decoder recovers at the next key frame.
                    self.stats.frames_lost += 1
                    continue
                decode_ms = (time.perf_counter() - t0) * 1000
                for frame in frames:
                    got = True
                    if pace and frame.pts is not None and time_base:
                        t = float(frame.pts * time_base)
                        if wall0 is None:
                            wall0, pts0 = time.monotonic(), t
                        ahead = wall0 + (t - pts0) - time.monotonic()
                        if ahead > 0 and self._stop.wait(min(ahead, 1.0)):
                            break
                    self._deliver(frame, decode_ms, time_base, started)
            return got
        finally:
            self._read_abort = None
            container.close()

    def _deliver(
        self, frame: Any, decode_ms: float, time_base: Fraction | None, started: float
    ) -> None:
        now = time.monotonic()
        previous = self.stats.last_frame_at
        if previous is None or previous < started:
            self.stats.ttff_ms = (now - started) * 1000
        pts_s = float(frame.pts * time_base) if frame.pts is not None and time_base else None
        self.stats.on_frame(now, decode_ms, pts_s)
        self.stats.width, self.stats.height = frame.width, frame.height
        state = self._status.state
        if state == StreamState.STALLED:
            # Live again when pictures flow, not on one late picture: FFmpeg's RTSP demuxer
            # hands out the frame it held back when its read times out, and a frozen camera
            # would show "live" for another stall period before going offline. Counted, not
            # timed: on key frames only, pictures may come further apart than any limit.
            self._frames_since_stall += 1
            if self._frames_since_stall >= 2:
                self._set_status(StreamStatus.now(StreamState.LIVE))
        elif state != StreamState.LIVE:
            self._set_status(StreamStatus.now(StreamState.LIVE))
        sent_at_ns = self._read_stamp(frame)
        if sent_at_ns is not None:
            self.stats.on_latency((time.time_ns() - sent_at_ns) / 1e6)
        request = self.slot.request
        data, w, h, fmt = self._convert(frame, request)
        self._seq += 1
        self.slot.put(
            VideoFrame(
                seq=self._seq,
                width=w,
                height=h,
                format=fmt,
                data=data,
                source_width=frame.width,
                source_height=frame.height,
                decoded_at=now,
                sent_at_ns=sent_at_ns,
                keyframe=bool(frame.key_frame),
            )
        )

    @staticmethod
    def _read_stamp(frame: Any) -> int | None:
        plane = frame.planes[0]
        width, line = frame.width, plane.line_size
        # Only the rows a stamp can occupy (one block), as a view of the plane.
        rows = min(frame.height, block_size(width))
        luma = np.frombuffer(plane, dtype=np.uint8, count=line * rows).reshape(rows, line)
        stamp = read_stamp(luma[:, :width])
        # A stamp more than a minute off is noise from a picture that only looks like one.
        if stamp is None or abs(time.time_ns() - stamp) > 60 * 1_000_000_000:
            return None
        return stamp

    def _convert(self, frame: Any, request: FrameRequest) -> tuple[Any, int, int, PixelFormat]:
        if request.format == PixelFormat.YUV420P:
            if frame.format.name != "yuv420p":
                frame = self._reformatter.reformat(frame, format="yuv420p", threads=1)
            return frame.to_ndarray(), frame.width, frame.height, PixelFormat.YUV420P
        w, h = fit_size(frame.width, frame.height, request.width, request.height)
        # Scaling happens here, in the decode thread with the GIL released by swscale,
        # so the GUI thread only blits a picture already at its on-screen size.
        out: Any = self._reformatter.reformat(
            frame, width=w, height=h, format="bgra", interpolation="FAST_BILINEAR", threads=1
        )
        data = out.to_ndarray()
        if not data.flags.c_contiguous:  # padded rows; fit_size's multiple-of-16 widths avoid this
            data = np.ascontiguousarray(data)
        return data, w, h, PixelFormat.BGRA


class _Starter:
    """Starts decode threads for their callers, so that opening a stream never waits.

    ``Thread.start`` blocks until the new thread has run its first bytecodes, which needs the
    GIL and a CPU: opening a 64-tile wall on two cores cost the GUI thread ~250 ms of such
    waits (py-spy), while the first key frames were already arriving. One long-lived daemon
    thread does the waiting instead, in the order the streams were opened.
    """

    def __init__(self) -> None:
        self._queue: queue.SimpleQueue[StreamWorker] = queue.SimpleQueue()
        self._lock = threading.Lock()
        self._thread: threading.Thread | None = None

    def submit(self, worker: StreamWorker) -> None:
        self._queue.put(worker)
        with self._lock:
            # Also when it has died (it never should: every launch error is caught), so that
            # no stream is left waiting on a starter that is gone.
            if self._thread is None or not self._thread.is_alive():
                self._thread = threading.Thread(
                    target=self._loop, name="stream-starter", daemon=True
                )
                self._thread.start()

    def _loop(self) -> None:
        while True:
            worker = self._queue.get()
            began = time.monotonic()
            try:
                worker._launch()
            except Exception:  # e.g. no more threads: that stream stays idle, the rest start
                logger.exception("cannot start the decode thread of %s", worker.label)
            if time.monotonic() - began > 1.0:  # a starved machine: say so, streams wait
                logger.warning(
                    "starting the decode thread of %s took %.1f s",
                    worker.label,
                    time.monotonic() - began,
                )


_starter = _Starter()


def _lower_thread_priority(nice: int) -> None:
    """Raise the calling thread's nice value by ``nice`` (Linux only; anyone may lower)."""
    if nice <= 0 or not hasattr(os, "setpriority"):
        return
    try:
        tid = threading.get_native_id()
        os.setpriority(os.PRIO_PROCESS, tid, os.getpriority(os.PRIO_PROCESS, tid) + nice)
    except OSError as exc:  # not permitted, or not a per-thread scheduler
        logger.debug("cannot lower the priority of %s: %s", threading.current_thread().name, exc)


def is_local(url: str) -> bool:
    """True for a local file path or file: URL."""
    return url.startswith("file:") or "://" not in url


def fit_size(src_w: int, src_h: int, box_w: int, box_h: int) -> tuple[int, int]:
    """Largest size with the source's aspect ratio inside the box.

    The width is a multiple of 16 so that BGRA rows need no padding (FFmpeg aligns line
    sizes to 64 bytes) and the frame is one contiguous block; the height is even.
    """
    if box_w <= 0 or box_h <= 0 or (box_w >= src_w and box_h >= src_h):
        return src_w, src_h
    scale = min(box_w / src_w, box_h / src_h)
    return max(16, int(src_w * scale) & ~15), max(2, int(src_h * scale) & ~1)
