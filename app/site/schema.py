"""Pydantic models of the YAML site file, checked field by field before building the domain."""

from __future__ import annotations

import re
from typing import Annotated, Any, Literal
from urllib.parse import urlsplit

from pydantic import (
    BaseModel,
    BeforeValidator,
    ConfigDict,
    Field,
    StrictInt,
    field_validator,
    model_validator,
)

from app.site.model import CameraKind

ALLOWED_SCHEMES = ("rtsp", "rtsps", "http", "https", "file")
NETWORK_SCHEMES = ("rtsp", "rtsps", "http", "https")
RTSP_SCHEMES = ("rtsp", "rtsps")
PURPOSES = ("crime-prevention", "investigations", "road-safety", "public-order")

Purpose = Literal["crime-prevention", "investigations", "road-safety", "public-order"]
Transport = Literal["tcp", "udp"]

_ID_RE = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_.-]*$")
_ENV_REF_RE = re.compile(r"^env:[A-Za-z_][A-Za-z0-9_]*$")
_KEYRING_REF_RE = re.compile(r"^keyring:[^/\s][^\s]*/[^/\s]+$")

Identifier = Annotated[
    str,
    Field(
        min_length=1,
        pattern=_ID_RE.pattern,
        description="letters, digits, '_', '-' or '.', starting with a letter or digit",
    ),
]


def url_scheme(url: str) -> str:
    """The lower-case scheme of ``url``, or ``""`` for a plain (possibly Windows) file path."""
    m = re.match(r"^([A-Za-z][A-Za-z0-9+.-]*):", url)
    # A single letter before ':' is a Windows drive (C:\videos\a.ts), not a scheme.
    if m is None or len(m.group(1)) == 1:
        return ""
    return m.group(1).lower()


def check_url(url: str) -> str:
    """Refuse empty URLs, unknown schemes and URLs that carry a user name or password."""
    url = url.strip()
    if not url:
        raise ValueError("empty URL")
    scheme = url_scheme(url)
    if scheme and scheme not in ALLOWED_SCHEMES:
        raise ValueError(
            f"unsupported URL scheme '{scheme}'; allowed: {', '.join(ALLOWED_SCHEMES)}"
            " or a plain file path"
        )
    if scheme in NETWORK_SCHEMES and "@" in urlsplit(url).netloc:
        # The URL itself is not echoed: it holds a secret.
        raise ValueError(
            "the URL contains a user name or password; put them under 'credentials:'"
            " as env:/keyring: references and name that entry in the camera's 'credential:'"
        )
    return url


def check_reference(value: str) -> str:
    """Accept ``env:VAR`` and ``keyring:SERVICE/ENTRY``; never echo it: it may be a secret."""
    if _ENV_REF_RE.match(value) or _KEYRING_REF_RE.match(value):
        return value
    raise ValueError(
        "must be a reference, 'env:VARIABLE' or 'keyring:SERVICE/ENTRY', never the secret itself"
    )


def _stream_from_string(value: Any) -> Any:
    return {"url": value} if isinstance(value, str) else value


class _Spec(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class StreamSpec(_Spec):
    url: str
    transport: Transport | None = None
    credential: str | None = None

    @field_validator("url")
    @classmethod
    def _url(cls, v: str) -> str:
        return check_url(v)


StreamValue = Annotated[StreamSpec, BeforeValidator(_stream_from_string)]


class StreamsSpec(_Spec):
    main: StreamValue
    sub: StreamValue | None = None


class OnvifSpec(_Spec):
    host: str = Field(min_length=1)
    port: int = Field(80, ge=1, le=65535)
    credential: str | None = None


class OpticSpec(_Spec):
    name: str = Field(min_length=1)
    heading: float | None = Field(None, ge=0, le=360)
    zoomable: bool = False
    video_source: str | None = None
    streams: StreamsSpec | None = None


class CredentialSpec(_Spec):
    username: str
    password: str

    @field_validator("username", "password")
    @classmethod
    def _reference(cls, v: str) -> str:
        return check_reference(v)


class NeighbourhoodSpec(_Spec):
    id: Identifier
    name: str = Field(min_length=1)
    outline: list[tuple[float, float]] = Field(default_factory=list)

    @field_validator("outline")
    @classmethod
    def _polygon(cls, v: list[tuple[float, float]]) -> list[tuple[float, float]]:
        if 0 < len(v) < 3:
            raise ValueError(f"a polygon needs at least 3 points, got {len(v)}")
        return v


class CameraSpec(_Spec):
    id: Identifier
    name: str = Field(min_length=1)
    neighbourhood: str
    kind: CameraKind
    location: str = ""
    lat: float | None = Field(None, ge=-90, le=90)
    lon: float | None = Field(None, ge=-180, le=180)
    heading: float | None = Field(None, ge=0, le=360)
    fov: float | None = Field(None, gt=0, le=360)
    purpose: list[Purpose] = Field(default_factory=list)
    credential: str | None = None
    onvif: OnvifSpec | None = None
    transport: Transport | None = None
    streams: StreamsSpec | None = None
    optics: list[OpticSpec] | None = None
    composite: bool = False
    notes: str = ""
    map_xy: tuple[float, float] | None = None


class MapBackgroundSpec(_Spec):
    kind: Literal["mbtiles", "pmtiles", "xyz", "image"]
    path: str | None = Field(None, min_length=1)
    url: str | None = Field(None, min_length=1)
    attribution: str = ""
    bounds: tuple[tuple[float, float], tuple[float, float]] | None = None
    cache: str | None = Field(None, min_length=1)
    max_zoom: int | None = Field(None, ge=0, le=24)

    @model_validator(mode="after")
    def _source(self) -> MapBackgroundSpec:
        if self.kind == "xyz":
            if not self.url:
                raise ValueError("an xyz background needs 'url' (with {z}, {x} and {y})")
            if not all(k in self.url for k in ("{z}", "{x}", "{y}")):
                raise ValueError("the xyz 'url' must contain {z}, {x} and {y}")
            if url_scheme(self.url) not in ("http", "https"):
                raise ValueError("the xyz 'url' must be http:// or https://")
        elif not self.path:
            raise ValueError(f"a {self.kind} background needs 'path' (relative to the site file)")
        if self.bounds is not None:
            (south, west), (north, east) = self.bounds
            if not (-90 <= south < north <= 90 and -180 <= west < east <= 180):
                raise ValueError("'bounds' is [[south, west], [north, east]] in degrees")
        return self


class MapSpec(_Spec):
    background: MapBackgroundSpec | None = None


class SiteSpec(_Spec):
    schema_version: StrictInt
    name: str = Field(min_length=1)
    credentials: dict[str, CredentialSpec] = Field(default_factory=dict)
    neighbourhoods: list[NeighbourhoodSpec] = Field(default_factory=list)
    cameras: list[CameraSpec]
    map: MapSpec | None = None
