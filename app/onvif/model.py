"""What the ONVIF client learns from a device: profiles, PTZ capabilities, status, presets."""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True, slots=True)
class MediaProfile:
    """A media profile, placed on an optic (by video source) and a role (by resolution)."""

    token: str
    name: str
    optic: int  # 0-based, order in which the device lists the video sources
    role: str  # "main" (largest picture of its source), "sub" (the next), or "" (others)
    width: int
    height: int
    source_token: str
    ptz_node: str | None  # NodeToken of its PTZConfiguration, when it has one


@dataclass(frozen=True, slots=True)
class Range:
    lo: float
    hi: float

    def clamp(self, v: float) -> float:
        return self.lo if v < self.lo else self.hi if v > self.hi else v


@dataclass(frozen=True, slots=True)
class PtzCapabilities:
    """What one PTZ node can do, from GetNode's SupportedPTZSpaces."""

    profile_token: str
    node_token: str
    pan_tilt: bool  # has a pan/tilt head (False: a zoom-only lens)
    zoom: bool
    continuous: bool
    relative: bool  # RelativeMove in a translation space
    absolute: bool  # AbsoluteMove in a position space
    home: bool
    max_presets: int
    pan_range: Range = Range(-1.0, 1.0)  # absolute position ranges
    tilt_range: Range = Range(-1.0, 1.0)
    zoom_range: Range = Range(0.0, 1.0)
    timeout_range: Range = Range(0.1, 60.0)  # seconds, ContinuousMove Timeout

    @property
    def presets(self) -> bool:
        return self.max_presets > 0


@dataclass(frozen=True, slots=True)
class PtzStatus:
    pan: float
    tilt: float
    zoom: float
    pan_tilt_moving: bool
    zoom_moving: bool

    @property
    def moving(self) -> bool:
        return self.pan_tilt_moving or self.zoom_moving


@dataclass(frozen=True, slots=True)
class FocusCapabilities:
    """A lens's focus motor (ONVIF Imaging), found through the optic's video source."""

    source_token: str
    continuous: bool  # Move with Continuous speed (the only kind the client drives)
    speed_range: Range = Range(-1.0, 1.0)


@dataclass(frozen=True, slots=True)
class FocusStatus:
    position: float  # device units (the demo: 0 near … 1 far)
    moving: bool


@dataclass(frozen=True, slots=True)
class PtzPresetInfo:
    token: str
    name: str
    pan: float | None = None
    tilt: float | None = None
    zoom: float | None = None


@dataclass(frozen=True, slots=True)
class DiscoveredStream:
    """One stream found through ONVIF: ``(optic, role, url)`` for the site's streams."""

    optic: int
    role: str
    url: str
