"""Plane geometry for the map: field-of-view cones, polygon centroids and areas."""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass

from app.maps.projection import Point

MAX_REACH = 2.5  # a fully zoomed PTZ cone is drawn at most this much longer than at wide angle


@dataclass(frozen=True, slots=True)
class Cone:
    """A field of view: centred on ``bearing`` (degrees clockwise from north), ``fov`` wide.

    ``reach`` scales the drawn length: 1 at the lens's wide angle, longer when a PTZ dome
    zooms in (it sees further, over a narrower angle).
    """

    bearing: float
    fov: float
    reach: float = 1.0


def zoom_reach(wide_fov: float, fov: float) -> float:
    """How much further a lens sees at ``fov`` than at ``wide_fov``, for drawing (1 … MAX_REACH).

    Magnification is tan(wide/2) / tan(fov/2); its square root keeps a 20x zoom on screen.
    """
    wide = max(1.0, min(179.0, wide_fov))
    narrow = max(0.5, min(wide, fov))
    ratio = math.tan(math.radians(wide) / 2) / math.tan(math.radians(narrow) / 2)
    return max(1.0, min(MAX_REACH, math.sqrt(ratio)))


def direction(bearing: float) -> Point:
    """Unit vector of a compass bearing in screen coordinates (x east, y down = south)."""
    a = math.radians(bearing)
    return math.sin(a), -math.cos(a)


def cone_polygon(cone: Cone, radius: float, step_deg: float = 6.0) -> list[Point]:
    """The cone as a closed fan: the apex (0, 0), then the arc from left to right edge.

    Coordinates are offsets from the camera in the same units as ``radius`` (screen pixels
    for markers drawn at a constant size), y pointing down.
    """
    fov = max(0.5, min(360.0, cone.fov))
    r = radius * cone.reach
    steps = max(2, math.ceil(fov / step_deg))
    start = cone.bearing - fov / 2
    arc = []
    for i in range(steps + 1):
        dx, dy = direction(start + fov * i / steps)
        arc.append((dx * r, dy * r))
    if fov >= 360.0:
        return arc
    return [(0.0, 0.0), *arc]


def polygon_area(points: Sequence[Point]) -> float:
    """Unsigned area (shoelace)."""
    n = len(points)
    s = 0.0
    for i in range(n):
        x0, y0 = points[i]
        x1, y1 = points[(i + 1) % n]
        s += x0 * y1 - x1 * y0
    return abs(s) / 2


def polygon_centroid(points: Sequence[Point]) -> Point:
    """Area centroid of a simple polygon; the vertex mean for degenerate ones."""
    n = len(points)
    if n == 0:
        raise ValueError("empty polygon")
    a = cx = cy = 0.0
    for i in range(n):
        x0, y0 = points[i]
        x1, y1 = points[(i + 1) % n]
        cross = x0 * y1 - x1 * y0
        a += cross
        cx += (x0 + x1) * cross
        cy += (y0 + y1) * cross
    if abs(a) < 1e-12:
        return sum(p[0] for p in points) / n, sum(p[1] for p in points) / n
    return cx / (3 * a), cy / (3 * a)


def normalise_bearing(deg: float) -> float:
    b = deg % 360.0
    return 0.0 if math.isclose(b, 360.0) else b
