"""Map projections: WGS84 to scene coordinates (local Web Mercator metres) and floor-plan pixels."""

from __future__ import annotations

import math
from collections.abc import Iterable
from dataclasses import dataclass

EARTH_RADIUS = 6378137.0  # Web Mercator sphere, metres
HALF_WORLD = math.pi * EARTH_RADIUS
TILE_SIZE = 256  # pixels of one raster tile
MAX_LAT = 85.05112878  # Web Mercator's square world

Point = tuple[float, float]
Rect = tuple[float, float, float, float]  # x0, y0, x1, y1 with x0 < x1, y0 < y1


def mercator(lat: float, lon: float) -> Point:
    """Web Mercator metres (x east, y north) of a WGS84 position."""
    lat = max(-MAX_LAT, min(MAX_LAT, lat))
    x = EARTH_RADIUS * math.radians(lon)
    y = EARTH_RADIUS * math.log(math.tan(math.pi / 4 + math.radians(lat) / 2))
    return x, y


def inverse_mercator(x: float, y: float) -> Point:
    lon = math.degrees(x / EARTH_RADIUS)
    lat = math.degrees(2 * math.atan(math.exp(y / EARTH_RADIUS)) - math.pi / 2)
    return lat, lon


@dataclass(frozen=True, slots=True)
class GeoProjection:
    """WGS84 → scene: Web Mercator shifted to ``origin`` and scaled to metres at its latitude.

    Scene y grows southwards (screen convention) and one scene unit is about one metre near
    the origin; Mercator is conformal, so compass bearings on the map stay true and
    field-of-view cones need no correction.
    """

    origin_lat: float
    origin_lon: float

    @property
    def is_geographic(self) -> bool:
        return True

    @property
    def _k(self) -> float:
        return math.cos(math.radians(self.origin_lat))

    @property
    def _origin(self) -> Point:
        return mercator(self.origin_lat, self.origin_lon)

    def to_scene(self, lat: float, lon: float) -> Point:
        mx, my = mercator(lat, lon)
        ox, oy = self._origin
        return (mx - ox) * self._k, (oy - my) * self._k

    def to_geo(self, x: float, y: float) -> Point:
        ox, oy = self._origin
        return inverse_mercator(ox + x / self._k, oy - y / self._k)

    def tile_rect(self, z: int, tx: int, ty: int) -> Rect:
        """Scene rectangle of the XYZ tile (z, tx, ty) (y counted from the north, like OSM)."""
        size = 2 * HALF_WORLD / (1 << z)
        ox, oy = self._origin
        k = self._k
        left = -HALF_WORLD + tx * size
        top = HALF_WORLD - ty * size
        return (left - ox) * k, (oy - top) * k, (left + size - ox) * k, (oy - top + size) * k

    def tiles_covering(self, z: int, rect: Rect) -> list[tuple[int, int]]:
        """The (tx, ty) of zoom ``z`` that intersect a scene rectangle, centre first."""
        n = 1 << z
        size = 2 * HALF_WORLD / n * self._k
        ox, oy = self._origin
        x0 = rect[0] + (ox + HALF_WORLD) * self._k
        x1 = rect[2] + (ox + HALF_WORLD) * self._k
        y0 = rect[1] + (HALF_WORLD - oy) * self._k
        y1 = rect[3] + (HALF_WORLD - oy) * self._k
        tx0, tx1 = max(0, int(x0 // size)), min(n - 1, int(x1 // size))
        ty0, ty1 = max(0, int(y0 // size)), min(n - 1, int(y1 // size))
        tiles = [(tx, ty) for tx in range(tx0, tx1 + 1) for ty in range(ty0, ty1 + 1)]
        cx, cy = (tx0 + tx1) / 2, (ty0 + ty1) / 2
        tiles.sort(key=lambda t: (t[0] - cx) ** 2 + (t[1] - cy) ** 2)
        return tiles

    def zoom_for(self, pixels_per_unit: float) -> float:
        """The (fractional) tile zoom whose 256-pixel tiles show 1:1 at this view scale."""
        if pixels_per_unit <= 0:
            return 0.0
        return math.log2(2 * HALF_WORLD * self._k * pixels_per_unit / TILE_SIZE)


@dataclass(frozen=True, slots=True)
class PixelProjection:
    """A floor plan: scene coordinates are the image's pixels; there is no globe."""

    width: float = 0.0
    height: float = 0.0

    @property
    def is_geographic(self) -> bool:
        return False


Projection = GeoProjection | PixelProjection


def geo_bounds(points: Iterable[Point]) -> tuple[float, float, float, float] | None:
    """(south, west, north, east) of (lat, lon) points, or None when there are none."""
    pts = list(points)
    if not pts:
        return None
    lats = [p[0] for p in pts]
    lons = [p[1] for p in pts]
    return min(lats), min(lons), max(lats), max(lons)
