"""Per-stream statistics, updated by the decode thread and read as snapshots by views."""

from __future__ import annotations

import threading
import time
from collections import deque
from dataclasses import asdict, dataclass
from typing import Any


@dataclass(frozen=True, slots=True)
class StatsSnapshot:
    """A consistent copy of a stream's statistics at one moment."""

    codec: str
    width: int
    height: int
    fps: float  # decoded frames per second over the last window
    bitrate_kbps: float
    decode_ms: float  # mean CPU wall time to decode one frame (recent)
    frames_decoded: int
    frames_lost: int  # missing in the network or at the camera (gaps in timestamps)
    frames_replaced: int  # decoded but replaced before any view showed them
    last_frame_age: float | None  # seconds since the newest frame, None before the first
    latency_ms_median: float | None  # sender stamp → decoded, where the picture carries a stamp
    latency_ms_p95: float | None
    time_to_first_frame_ms: float | None  # open → first decoded frame, latest connection
    reconnects: int
    keyframes_only: bool
    # How far the newest frame was decoded behind the stream's own clock, beyond the best
    # seen on this connection: grows when decoding cannot keep up (see load_policy).
    lag_ms: float | None = None

    def as_dict(self) -> dict[str, Any]:
        return asdict(self)


def percentile(values: list[float], q: float) -> float | None:
    """Nearest-rank percentile (q in [0, 100]) of ``values``; None when empty."""
    if not values:
        return None
    ordered = sorted(values)
    k = max(0, min(len(ordered) - 1, round(q / 100 * (len(ordered) - 1))))
    return ordered[k]


class StreamStats:
    """Counters for one stream. Thread: written by its decode thread, read anywhere."""

    WINDOW = 2.0  # seconds over which fps and bitrate are measured

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self.codec = ""
        self.width = 0
        self.height = 0
        self.frames_decoded = 0
        self.frames_lost = 0
        self.reconnects = 0
        self.keyframes_only = False
        self.ttff_ms: float | None = None
        self.last_frame_at: float | None = None  # monotonic
        self._frame_times: deque[float] = deque(maxlen=512)
        self._bytes: deque[tuple[float, int]] = deque(maxlen=2048)
        self._decode_ms: deque[float] = deque(maxlen=50)
        self._latency_ms: deque[float] = deque(maxlen=250)
        self._last_pts: float | None = None
        self._interval: float | None = None
        self._offset_min: float | None = None  # min(arrival - pts): the stream at its fastest
        self._last_keyframes_only = False
        self._lag: float | None = None

    def on_packet(self, size: int, now: float) -> None:
        with self._lock:
            self._bytes.append((now, size))

    def on_frame(self, now: float, decode_ms: float, pts_s: float | None) -> None:
        with self._lock:
            self.frames_decoded += 1
            self.last_frame_at = now
            self._frame_times.append(now)
            self._decode_ms.append(decode_ms)
            if pts_s is not None:
                self._count_gap(pts_s)
                self._track_lag(now, pts_s)

    def _track_lag(self, now: float, pts_s: float) -> None:
        offset = now - pts_s
        best = self._offset_min
        # A new connection, a clock restart or a jump of more than a minute: new baseline.
        if best is None or offset < best or offset - best > 60.0:
            self._offset_min = best = offset
        self._lag = offset - best

    def _count_gap(self, pts_s: float) -> None:
        # The nominal interval is the smallest positive step seen; a step of more
        # than 1.5 intervals means frames went missing before they reached us. Frames
        # skipped on purpose (key frames only, and the step into or out of it) are not lost.
        skipping = self.keyframes_only or self._last_keyframes_only
        self._last_keyframes_only = self.keyframes_only
        if self._last_pts is not None and not skipping:
            step = pts_s - self._last_pts
            if step > 0:
                if self._interval is None or step < self._interval:
                    self._interval = step
                elif step > 1.5 * self._interval and self.frames_decoded > 5:
                    self.frames_lost += round(step / self._interval) - 1
        self._last_pts = pts_s

    def reset_timeline(self) -> None:
        """Forget the previous connection's timestamps (called on reconnect)."""
        with self._lock:
            self._last_pts = None
            self._offset_min = self._lag = None

    @property
    def lag_ms(self) -> float | None:
        """The newest frame's lag (see StatsSnapshot.lag_ms), without a whole snapshot."""
        lag = self._lag
        return None if lag is None else lag * 1000

    def on_latency(self, ms: float) -> None:
        with self._lock:
            self._latency_ms.append(ms)

    def snapshot(self, replaced: int, now: float | None = None) -> StatsSnapshot:
        now = time.monotonic() if now is None else now
        with self._lock:
            start = now - self.WINDOW
            frames = sum(1 for t in self._frame_times if t >= start)
            nbytes = sum(n for t, n in self._bytes if t >= start)
            lat = list(self._latency_ms)
            dec = list(self._decode_ms)
            return StatsSnapshot(
                codec=self.codec,
                width=self.width,
                height=self.height,
                fps=frames / self.WINDOW,
                bitrate_kbps=nbytes * 8 / 1000 / self.WINDOW,
                decode_ms=sum(dec) / len(dec) if dec else 0.0,
                frames_decoded=self.frames_decoded,
                frames_lost=self.frames_lost,
                frames_replaced=replaced,
                last_frame_age=None if self.last_frame_at is None else now - self.last_frame_at,
                latency_ms_median=percentile(lat, 50),
                latency_ms_p95=percentile(lat, 95),
                time_to_first_frame_ms=self.ttff_ms,
                reconnects=self.reconnects,
                keyframes_only=self.keyframes_only,
                lag_ms=None if self._lag is None else self._lag * 1000,
            )
