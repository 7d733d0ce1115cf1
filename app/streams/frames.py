"""Decoded frames and the latest-frame slot between a decode thread and its views."""

from __future__ import annotations

import enum
import itertools
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass

import numpy as np
import numpy.typing as npt


class PixelFormat(enum.StrEnum):
    YUV420P = "yuv420p"  # planar, for the GPU path: the view converts colour in a shader
    BGRA = "bgra"  # packed 32-bit, already scaled to the tile: the CPU fallback path


@dataclass(frozen=True, slots=True)
class VideoFrame:
    """One decoded picture, ready for a view.

    ``data`` is C-contiguous: for YUV420P a (height * 3 // 2, width) array with the
    Y plane followed by U and V (I420 layout); for BGRA a (height, width, 4) array.
    """

    seq: int
    width: int
    height: int
    format: PixelFormat
    data: npt.NDArray[np.uint8]
    source_width: int  # decoded size before any scaling
    source_height: int
    decoded_at: float  # time.monotonic() when the decoder produced it
    sent_at_ns: int | None = None  # sender wall clock from the in-picture stamp
    keyframe: bool = False


@dataclass(frozen=True, slots=True)
class FrameRequest:
    """What the views want from a stream: pixel format and on-screen size."""

    format: PixelFormat = PixelFormat.BGRA
    width: int = 0  # 0 = decoded size
    height: int = 0


_generations = itertools.count(1)


class FrameWake:
    """Wakes display clocks when a frame lands in any slot, instead of their polling.

    Each subscriber is called at most once until it ``rearm``s (coalesced: a wall woken by
    one frame picks up every frame that landed before it ran), so a 25 fps stream costs 25
    wake-ups a second and an idle wall none, where a 10 ms polling timer cost 100 (measured
    ~120 us each on the 2-core reference VM, BENCHMARKS.md).

    Thread: ``notify`` from decode threads; ``subscribe`` and the subscription's methods
    from the display's thread.
    """

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._subs: tuple[WakeSubscription, ...] = ()

    def subscribe(self, notify: Callable[[], None]) -> WakeSubscription:
        """``notify`` is called from a decode thread; it must only post, never block."""
        sub = WakeSubscription(self, notify)
        with self._lock:
            self._subs = (*self._subs, sub)
        return sub

    def _remove(self, sub: WakeSubscription) -> None:
        with self._lock:
            self._subs = tuple(s for s in self._subs if s is not sub)

    def notify(self) -> None:
        for sub in self._subs:  # a tuple replaced on change: safe to iterate unlocked
            sub.fire()


class WakeSubscription:
    """One display clock's subscription to FrameWake (see there)."""

    def __init__(self, wake: FrameWake, notify: Callable[[], None]) -> None:
        self._wake = wake
        self._notify = notify
        self._lock = threading.Lock()
        self._armed = True
        self._closed = False
        self.fired_at = 0.0  # time.monotonic() of the last wake-up sent

    def fire(self) -> None:
        if not self._armed:  # the common case while a wake-up is on its way: no lock
            return
        with self._lock:  # held across notify, so close() returns only after any notify
            if not self._armed or self._closed:
                return
            self._armed = False
            self.fired_at = time.monotonic()
            self._notify()

    @property
    def pending(self) -> bool:
        """A wake-up was sent and the display has not re-armed since."""
        return not self._armed and not self._closed

    def rearm(self) -> None:
        """Called by the display before it takes the slots' frames: later frames wake it."""
        self._armed = True

    def close(self) -> None:
        """No more calls of ``notify`` once this returns."""
        with self._lock:
            self._closed = True
        self._wake._remove(self)


frame_wake = FrameWake()  # the process's one: every FrameSlot.put notifies it


class FrameSlot:
    """Latest-frame mailbox: the decoder puts, views take; nobody ever waits.

    Thread: ``put`` is called from the decode thread; ``latest`` and ``request``
    from the GUI thread. Each lock hold is a few assignments.
    """

    # Changes with every frame put into any slot (a unique number from an atomic counter),
    # so a display clock polling many slots can skip a tick when nothing arrived.
    generation = 0

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._frame: VideoFrame | None = None
        self._taken_seq = -1
        self.replaced = 0  # frames overwritten before any view took them
        # The newest frame's seq, read without the lock by views polling many slots (a
        # stale read only delays a frame to the next display pass, which its wake-up brings).
        self.seq = -1
        self._request = FrameRequest()

    @property
    def request(self) -> FrameRequest:
        return self._request

    @request.setter
    def request(self, value: FrameRequest) -> None:
        # A plain attribute swap is atomic under the GIL; the decoder reads it once per frame.
        self._request = value

    def put(self, frame: VideoFrame) -> None:
        with self._lock:
            if self._frame is not None and self._frame.seq > self._taken_seq:
                self.replaced += 1
            self._frame = frame
            self.seq = frame.seq
        FrameSlot.generation = next(_generations)
        frame_wake.notify()

    def latest(self, after_seq: int = -1) -> VideoFrame | None:
        """The newest frame if its seq is above ``after_seq``, else None."""
        with self._lock:
            frame = self._frame
            if frame is None or frame.seq <= after_seq:
                return None
            self._taken_seq = max(self._taken_seq, frame.seq)
            return frame

    def clear(self) -> None:
        with self._lock:
            self._frame = None
            self.seq = -1
