"""State of the virtual cameras: PTZ/lens positions, presets and faults (no I/O here)."""

from __future__ import annotations

import enum
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field


class Fault(enum.StrEnum):
    """Faults the fleet can put on a camera, as seen on the real network."""

    NONE = "none"
    OFFLINE = "offline"  # refuses connections (stream and ONVIF)
    FLAPPING = "flapping"  # alternates up and down every few seconds
    WRONG_PASSWORD = "wrong-password"  # rejects the site's credential
    FROZEN = "frozen"  # connection stays open, frames stop


def _clamp(v: float, lo: float, hi: float) -> float:
    return lo if v < lo else hi if v > hi else v


@dataclass(frozen=True, slots=True)
class PtzPosition:
    """ONVIF generic spaces: pan and tilt in [-1, 1], zoom in [0, 1]."""

    pan: float = 0.0
    tilt: float = 0.0
    zoom: float = 0.0


@dataclass(slots=True)
class Preset:
    token: str
    name: str
    position: PtzPosition


# Realistic dome limits: pan sweeps 360 degrees at up to 120 deg/s (= 0.667 of
# the [-1, 1] range per second), tilt 90 degrees at 60 deg/s, zoom end to end in 4 s.
PAN_SPEED_MAX = 2 * 120 / 360
TILT_SPEED_MAX = 2 * 60 / 90
ZOOM_SPEED_MAX = 1 / 4


@dataclass
class PtzState:
    """The motor state of one PTZ head or motorised lens, integrated lazily from time.

    Thread: every method may be called from any thread (SOAP handlers, encoders).
    ``pan_tilt`` is False for a zoom-only lens (a quad-optic optic).
    """

    pan_tilt: bool = True
    clock: Callable[[], float] = time.monotonic
    _lock: threading.Lock = field(default_factory=threading.Lock, repr=False)
    _pos: PtzPosition = field(default_factory=PtzPosition)
    _vel: tuple[float, float, float] = (0.0, 0.0, 0.0)  # fraction of max speed per axis
    _target: PtzPosition | None = None  # for absolute/relative moves
    _target_speed: float = 1.0
    _deadline: float | None = None  # continuous move timeout
    _t: float = field(default=0.0)
    presets: dict[str, Preset] = field(default_factory=dict)
    home: PtzPosition = field(default_factory=PtzPosition)
    moves: int = 0  # commands received, for tests and statistics

    def __post_init__(self) -> None:
        self._t = self.clock()

    def _advance(self, now: float) -> None:
        dt = max(0.0, now - self._t)
        if self._deadline is not None and now >= self._deadline:
            dt = max(0.0, self._deadline - self._t)
        p = self._pos
        if self._target is not None:
            s = self._target_speed
            p = PtzPosition(
                _step(p.pan, self._target.pan, PAN_SPEED_MAX * s * dt),
                _step(p.tilt, self._target.tilt, TILT_SPEED_MAX * s * dt),
                _step(p.zoom, self._target.zoom, ZOOM_SPEED_MAX * s * dt),
            )
            if p == self._target:
                self._target = None
        else:
            vp, vt, vz = self._vel
            pan = p.pan + vp * PAN_SPEED_MAX * dt
            # Pan wraps around like a real endless-pan dome.
            pan = (pan + 1.0) % 2.0 - 1.0 if vp else pan
            p = PtzPosition(
                pan,
                _clamp(p.tilt + vt * TILT_SPEED_MAX * dt, -1, 1),
                _clamp(p.zoom + vz * ZOOM_SPEED_MAX * dt, 0, 1),
            )
        self._pos = p
        self._t = now
        if self._deadline is not None and now >= self._deadline:
            self._vel = (0.0, 0.0, 0.0)
            self._deadline = None

    def position(self) -> PtzPosition:
        with self._lock:
            self._advance(self.clock())
            return self._pos

    def moving(self) -> tuple[bool, bool]:
        """(pan/tilt moving, zoom moving)."""
        with self._lock:
            self._advance(self.clock())
            if self._target is not None:
                t, p = self._target, self._pos
                return (t.pan != p.pan or t.tilt != p.tilt, t.zoom != p.zoom)
            vp, vt, vz = self._vel
            return (vp != 0 or vt != 0, vz != 0)

    def continuous_move(self, pan: float, tilt: float, zoom: float, timeout: float | None) -> None:
        with self._lock:
            now = self.clock()
            self._advance(now)
            if not self.pan_tilt:
                pan = tilt = 0.0
            self._vel = (_clamp(pan, -1, 1), _clamp(tilt, -1, 1), _clamp(zoom, -1, 1))
            self._target = None
            self._deadline = now + timeout if timeout else None
            self.moves += 1

    def stop(self, pan_tilt: bool = True, zoom: bool = True) -> None:
        with self._lock:
            self._advance(self.clock())
            vp, vt, vz = self._vel
            if pan_tilt:
                vp = vt = 0.0
            if zoom:
                vz = 0.0
            self._vel = (vp, vt, vz)
            if pan_tilt and zoom:
                self._target = None
                self._deadline = None
            self.moves += 1

    def absolute_move(self, target: PtzPosition, speed: float = 1.0) -> None:
        with self._lock:
            self._advance(self.clock())
            if not self.pan_tilt:
                target = PtzPosition(self._pos.pan, self._pos.tilt, target.zoom)
            self._target = PtzPosition(
                _clamp(target.pan, -1, 1), _clamp(target.tilt, -1, 1), _clamp(target.zoom, 0, 1)
            )
            self._target_speed = _clamp(speed, 0.01, 1.0)
            self._vel = (0.0, 0.0, 0.0)
            self._deadline = None
            self.moves += 1

    def relative_move(self, pan: float, tilt: float, zoom: float, speed: float = 1.0) -> None:
        here = self.position()
        self.absolute_move(PtzPosition(here.pan + pan, here.tilt + tilt, here.zoom + zoom), speed)


def _step(value: float, target: float, max_delta: float) -> float:
    if abs(target - value) <= max_delta:
        return target
    return value + max_delta if target > value else value - max_delta


@dataclass
class VirtualOptic:
    """One sensor of a virtual camera: its picture and, if motorised, its lens/head."""

    index: int
    name: str
    heading: float
    ptz: PtzState | None = None  # a PTZ head (dome) or a zoom-only lens (multi-optic)
    focus: float = 0.5  # Imaging focus position in [0, 1]


@dataclass
class VirtualCamera:
    """A camera of the demo fleet. ``fault`` can be changed at any time."""

    id: str
    name: str
    neighbourhood: str
    kind: str  # CameraKind value
    optics: list[VirtualOptic]
    fault: Fault = Fault.NONE
    fault_since: float = field(default_factory=time.monotonic)

    def is_up(self, now: float | None = None) -> bool:
        """False while the camera's fault makes it unreachable right now."""
        if self.fault == Fault.OFFLINE:
            return False
        if self.fault == Fault.FLAPPING:
            t = (now if now is not None else time.monotonic()) - self.fault_since
            return int(t // 8) % 2 == 0  # 8 s up, 8 s down
        return True
