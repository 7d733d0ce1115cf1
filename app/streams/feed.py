"""TileFeed: what one tile decodes; picks main or sub by size and switches without a black gap."""

from __future__ import annotations

import logging
import time

from app.health import StatusBoard
from app.site.model import Camera, Stream, StreamRole
from app.streams.engine import StreamEngine, StreamHandle
from app.streams.frames import FrameRequest, VideoFrame
from app.streams.load_policy import LoadLevel, LoadReason
from app.streams.policy import choose_role, pick_stream
from app.streams.stats import StatsSnapshot
from app.streams.status import StreamState, StreamStatus

logger = logging.getLogger(__name__)


class TileFeed:
    """The stream behind one tile.

    A tile too small for the main stream decodes the sub stream; a large or maximised
    one the main stream (see ``policy.choose_role``). On a switch the new stream is
    opened first and the old one is kept on screen until the new one delivers a frame.
    A hidden tile releases its stream, so nothing is decoded for it.

    Thread: GUI thread only (it only touches the engine's thread-safe API).
    """

    def __init__(self, engine: StreamEngine, board: StatusBoard | None = None) -> None:
        self._engine = engine
        self._board = board
        self.camera: Camera | None = None
        self.optic = 0
        self.role: StreamRole | None = None
        self.stream: Stream | None = None
        self._handle: StreamHandle | None = None
        self._pending: StreamHandle | None = None
        self._pending_role: StreamRole | None = None
        self._visible = True
        self._height_px = 0
        self._request = FrameRequest()
        self._last_seq = -1
        self.presented = 0
        self.forced_role: StreamRole | None = None
        self.opened_at_ns: int | None = None  # wall clock of the latest first open (benchmarks)
        # Set by the load policy (app.streams.load_policy) when the machine cannot keep up.
        self.load_level = LoadLevel.FULL
        self.load_reason = LoadReason.NONE
        # The level a newly shown camera starts at: key frames only ("starting") on a big
        # wall, until the load policy admits the tile (the wall sets it; see LoadPolicy).
        self.start_keyframes = False

    # -- what to show -------------------------------------------------------------------------
    def show(self, camera: Camera | None, optic: int = 0) -> None:
        if camera == self.camera and optic == self.optic:
            return
        self._close_all()
        self.camera, self.optic, self.role = camera, optic, None
        self.load_level, self.load_reason = LoadLevel.FULL, LoadReason.NONE
        if self.start_keyframes and camera is not None:
            self.load_level, self.load_reason = LoadLevel.KEYFRAMES, LoadReason.STARTING
        self._reconcile()

    def set_load(self, level: LoadLevel, reason: LoadReason = LoadReason.NONE) -> None:
        """Demote (sub stream, then key frames only) or promote back; see LoadPolicy."""
        if level == self.load_level and reason == self.load_reason:
            return
        keyframes_changed = (level == LoadLevel.KEYFRAMES) != (
            self.load_level == LoadLevel.KEYFRAMES
        )
        self.load_level, self.load_reason = level, reason
        self._reconcile()
        if keyframes_changed:
            self._apply_keyframes(self._handle, self._pending)

    def _apply_keyframes(self, *handles: StreamHandle | None) -> None:
        # On the stream's one decoder: a second tile showing the same stream follows along.
        for h in handles:
            if h is not None:
                h.worker.set_keyframes_only(self.load_level == LoadLevel.KEYFRAMES)

    def set_height(self, height_px: int) -> None:
        self._height_px = height_px
        self._reconcile()

    def set_visible(self, visible: bool) -> None:
        if visible == self._visible:
            return
        self._visible = visible
        if not visible:
            self._close_all()
        self._reconcile()

    def set_request(self, request: FrameRequest) -> None:
        self._request = request
        for h in (self._handle, self._pending):
            if h is not None:
                self._engine.set_request(h, request)

    def force_role(self, role: StreamRole | None) -> None:
        """Pin main or sub regardless of size (None: back to automatic)."""
        self.forced_role = role
        self._reconcile()

    # -- frames and state ---------------------------------------------------------------------
    def has_new_frame(self) -> bool:
        """Whether ``take_frame`` may have a frame: lock-free, for a display pass over a big
        wall that would otherwise ask every tile (a stale answer delays a frame one pass)."""
        if self._pending is not None:
            return True
        handle = self._handle
        return handle is not None and handle.slot.seq > self._last_seq

    def take_frame(self) -> VideoFrame | None:
        """The newest frame not shown yet, or None. Completes a pending stream switch."""
        if self._pending is not None:
            frame = self._pending.slot.latest()
            if frame is not None:
                old, self._handle = self._handle, self._pending
                self.role, self._pending, self._pending_role = self._pending_role, None, None
                if old is not None:
                    self._engine.release(old)
                self._last_seq = frame.seq
                return frame
        if self._handle is None:
            return None
        slot = self._handle.slot
        if slot.seq <= self._last_seq:
            return None  # nothing new: no lock taken (most polls of a big wall)
        frame = slot.latest(self._last_seq)
        if frame is not None:
            self._last_seq = frame.seq
        return frame

    @property
    def handle(self) -> StreamHandle | None:
        return self._handle

    @property
    def lag_ms(self) -> float | None:
        """How far the stream's decoding is behind its own clock (for the load policy)."""
        return self._handle.worker.stats.lag_ms if self._handle is not None else None

    @property
    def has_sub(self) -> bool:
        """The shown optic has a sub stream (something to demote a main stream to)."""
        if self.camera is None or not self.camera.optics:
            return False
        optic = self.camera.optics[min(self.optic, len(self.camera.optics) - 1)]
        return optic.stream(StreamRole.SUB) is not None

    @property
    def status(self) -> StreamStatus:
        if self._handle is not None:
            return self._handle.status
        if self._pending is not None:
            return self._pending.status
        return StreamStatus(StreamState.IDLE)

    def stats(self) -> StatsSnapshot | None:
        return self._handle.stats() if self._handle is not None else None

    def close(self) -> None:
        self._close_all()
        self.camera = None

    # -- internals ----------------------------------------------------------------------------
    def _close_all(self) -> None:
        for h in (self._pending, self._handle):
            if h is not None:
                self._engine.release(h)
        self._handle = self._pending = None
        self._pending_role = None
        self.stream = None
        self._last_seq = -1

    def _reconcile(self) -> None:
        if self.camera is None or not self._visible or not self.camera.optics:
            return
        optic = self.camera.optics[min(self.optic, len(self.camera.optics) - 1)]
        current = self._pending_role or self.role
        wanted = self.forced_role or choose_role(current, self._height_px)
        if self.load_level >= LoadLevel.SUB and self.forced_role is None:
            wanted = StreamRole.SUB
        stream = pick_stream(optic, wanted)
        if stream is None:
            return
        if self._handle is not None and stream.url == self._handle.key:
            if self._pending is not None:  # a switch back before the new one arrived
                self._engine.release(self._pending)
                self._pending = self._pending_role = None
            return
        if self._pending is not None:
            if stream.url == self._pending.key:
                return
            self._engine.release(self._pending)
        opened_ns = time.time_ns()
        handle = self._engine.open(
            stream, label=f"{self.camera.id}-{optic.index + 1}-{stream.role}"
        )
        self._engine.set_request(handle, self._request)
        if self.load_level == LoadLevel.KEYFRAMES:
            self._apply_keyframes(handle)
        if self._board is not None:
            self._board.bind(handle.key, self.camera.id)
            # The worker may have reported before the binding existed.
            self._board.on_stream_status(handle.key, handle.status)
        self.stream = stream
        if self._handle is None:
            self._handle, self.role = handle, stream.role
            self.opened_at_ns = opened_ns
        else:
            self._pending, self._pending_role = handle, stream.role
