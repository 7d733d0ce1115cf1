"""Domain objects of a site: Camera, Optic, Stream, Neighbourhood, Site (immutable)."""

from __future__ import annotations

import enum
from dataclasses import dataclass, field
from pathlib import Path

SCHEMA_VERSION = 1


class CameraKind(enum.StrEnum):
    PTZ_DOME = "ptz-dome"
    FIXED_DOME = "fixed-dome"
    BI_OPTIC = "bi-optic"
    QUAD_OPTIC = "quad-optic"

    @property
    def optic_count(self) -> int:
        return {"bi-optic": 2, "quad-optic": 4}.get(self.value, 1)


class StreamRole(enum.StrEnum):
    MAIN = "main"
    SUB = "sub"


@dataclass(frozen=True, slots=True)
class CredentialRef:
    """Where a user name and password come from; never the secret itself.

    ``username`` and ``password`` are references: ``env:VAR`` or
    ``keyring:SERVICE/ENTRY``. ``resolve`` in ``app.site.credentials`` reads them.
    """

    name: str
    username: str
    password: str


@dataclass(frozen=True, slots=True)
class Stream:
    """One video stream of an optic (``main`` or ``sub``)."""

    role: StreamRole
    url: str
    credential: CredentialRef | None = None
    transport: str = "tcp"  # "tcp" or "udp" for rtsp://


@dataclass(frozen=True, slots=True)
class OnvifEndpoint:
    host: str
    port: int = 80
    credential: CredentialRef | None = None


@dataclass(frozen=True, slots=True)
class Optic:
    """One sensor and lens of a camera; single-optic cameras have exactly one."""

    index: int  # 0-based position in the housing
    name: str
    streams: tuple[Stream, ...] = ()
    heading: float | None = None  # degrees clockwise from north
    zoomable: bool = False
    video_source: str | None = None  # ONVIF VideoSource token, when known

    def stream(self, role: StreamRole) -> Stream | None:
        for s in self.streams:
            if s.role == role:
                return s
        return None


@dataclass(frozen=True, slots=True)
class Camera:
    id: str
    name: str
    neighbourhood: str  # Neighbourhood.id
    kind: CameraKind
    location: str = ""
    latitude: float | None = None
    longitude: float | None = None
    heading: float | None = None
    fov: float | None = None  # horizontal field of view in degrees
    purpose: tuple[str, ...] = ()
    optics: tuple[Optic, ...] = ()
    onvif: OnvifEndpoint | None = None
    composite: bool = False  # the device sends one 2x2/1x2 mosaic stream
    notes: str = ""  # free text for operators (context of the site survey)
    map_xy: tuple[float, float] | None = None  # position on a floor-plan image, in pixels

    @property
    def is_multi_optic(self) -> bool:
        return len(self.optics) > 1

    def optic(self, index: int = 0) -> Optic:
        return self.optics[index]


@dataclass(frozen=True, slots=True)
class Neighbourhood:
    id: str
    name: str
    outline: tuple[tuple[float, float], ...] = ()  # (lat, lon) polygon, optional


@dataclass(frozen=True, slots=True)
class MapBackground:
    """What the map draws under the outlines: a tile file, a tile server or a floor plan.

    ``path`` is as written in the site file (relative to it, or absolute); ``bounds`` places
    an image on the globe as ((south, west), (north, east)); without it an image is a floor
    plan in pixels and cameras use ``Camera.map_xy``.
    """

    kind: str  # "mbtiles", "pmtiles", "xyz" or "image"
    path: str = ""
    url: str = ""
    attribution: str = ""
    bounds: tuple[tuple[float, float], tuple[float, float]] | None = None
    cache: str = ""  # xyz: on-disk tile cache directory ("" = the per-user cache)
    max_zoom: int | None = None


@dataclass(frozen=True, slots=True)
class Site:
    name: str
    cameras: tuple[Camera, ...]
    neighbourhoods: tuple[Neighbourhood, ...] = ()
    credentials: tuple[CredentialRef, ...] = ()
    schema_version: int = SCHEMA_VERSION
    path: Path | None = field(default=None, compare=False)
    map_background: MapBackground | None = None

    def camera(self, camera_id: str) -> Camera:
        for c in self.cameras:
            if c.id == camera_id:
                return c
        raise KeyError(camera_id)

    def neighbourhood(self, neighbourhood_id: str) -> Neighbourhood:
        for n in self.neighbourhoods:
            if n.id == neighbourhood_id:
                return n
        raise KeyError(neighbourhood_id)
