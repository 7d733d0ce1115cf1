"""Map backgrounds: raster tiles from MBTiles, PMTiles or an XYZ server (cached), or an image.

Local sources answer ``tile()`` at once. The XYZ source never blocks its caller: ``tile()``
returns what the disk cache has and fetches the rest on its own threads, then emits
``tile_ready``. Every failure to open a background is a ``BackgroundError`` with a message
for the operator; the map then shows the outlines alone.
"""

from __future__ import annotations

import hashlib
import logging
import os
import sqlite3
import tempfile
import threading
import time
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path

import httpx

from app import __version__
from app.events import Signal
from app.maps.pmtiles import PMTilesError, PMTilesReader, TileType
from app.site.model import MapBackground, Site

logger = logging.getLogger(__name__)

IMAGE_SIGNATURES = {
    b"\x89PNG\r\n\x1a\n": "PNG",
    b"\xff\xd8\xff": "JPEG",
    b"GIF87a": "GIF",
    b"GIF89a": "GIF",
    b"BM": "BMP",
}
RASTER_TYPES = {TileType.PNG, TileType.JPEG, TileType.WEBP, TileType.UNKNOWN}


class BackgroundError(Exception):
    """A map background that cannot be used; the message is meant for the operator."""


class TileSource:
    """Raster tiles in the XYZ scheme (y from the north, 256 px)."""

    kind = ""

    def __init__(self, attribution: str = "", min_zoom: int = 0, max_zoom: int = 19) -> None:
        self.attribution = attribution
        self.min_zoom = min_zoom
        self.max_zoom = max_zoom
        self.tile_ready: Signal[[int, int, int]] = Signal()  # (z, x, y), any thread
        self.error: Signal[[str]] = Signal()  # a failure worth showing, any thread
        self.last_error = ""

    def tile(self, z: int, x: int, y: int) -> bytes | None:
        raise NotImplementedError

    def close(self) -> None:
        """Release files and threads; ``tile()`` returns None afterwards."""

    def _report(self, message: str) -> None:
        if message != self.last_error:
            self.last_error = message
            logger.warning("map background: %s", message)
            self.error.emit(message)


class MBTilesSource(TileSource):
    """An MBTiles file (SQLite): ``tiles(zoom_level, tile_column, tile_row, tile_data)``.

    MBTiles numbers rows from the south (TMS); they are flipped here.
    """

    kind = "mbtiles"

    def __init__(self, path: Path, attribution: str = "", max_zoom: int | None = None) -> None:
        self.path = path
        if not path.is_file():
            raise BackgroundError(f"MBTiles file not found: {path}")
        try:
            # Read-only and immutable: the map never writes, and a shared file on a network
            # drive must not be locked by every console.
            uri = path.resolve().as_uri() + "?mode=ro&immutable=1"
            self._db = sqlite3.connect(uri, uri=True, check_same_thread=False)
            meta = dict(self._db.execute("SELECT name, value FROM metadata").fetchall())
            tables = {
                r[0]
                for r in self._db.execute(
                    "SELECT name FROM sqlite_master WHERE type IN ('table', 'view')"
                )
            }
            if "tiles" not in tables:
                raise BackgroundError(f"{path}: not an MBTiles file (no 'tiles' table)")
            zooms = self._db.execute(
                "SELECT MIN(zoom_level), MAX(zoom_level) FROM tiles"
            ).fetchone()
        except sqlite3.DatabaseError as e:
            raise BackgroundError(f"{path}: not a readable MBTiles file ({e})") from e
        fmt = str(meta.get("format", "png")).lower()
        if fmt in ("pbf", "mvt"):
            raise BackgroundError(f"{path}: vector tiles are not supported; use PNG or JPEG tiles")
        if zooms is None or zooms[0] is None:
            raise BackgroundError(f"{path}: the MBTiles file has no tiles")
        super().__init__(
            attribution or str(meta.get("attribution", "")),
            int(zooms[0]),
            int(max_zoom if max_zoom is not None else zooms[1]),
        )
        self._lock = threading.Lock()
        self._closed = False

    def tile(self, z: int, x: int, y: int) -> bytes | None:
        with self._lock:
            if self._closed:
                return None
            try:
                row = self._db.execute(
                    "SELECT tile_data FROM tiles"
                    " WHERE zoom_level = ? AND tile_column = ? AND tile_row = ?",
                    (z, x, (1 << z) - 1 - y),
                ).fetchone()
            except sqlite3.DatabaseError as e:
                self._report(f"{self.path}: cannot read tile {z}/{x}/{y} ({e})")
                return None
        return bytes(row[0]) if row and row[0] is not None else None

    def close(self) -> None:
        with self._lock:
            if not self._closed:
                self._closed = True
                self._db.close()


class PMTilesSource(TileSource):
    kind = "pmtiles"

    def __init__(self, path: Path, attribution: str = "", max_zoom: int | None = None) -> None:
        self.path = path
        if not path.is_file():
            raise BackgroundError(f"PMTiles file not found: {path}")
        try:
            self._reader = PMTilesReader(path)
            meta = self._reader.metadata()
        except (PMTilesError, OSError) as e:
            raise BackgroundError(f"{path}: {e}") from e
        h = self._reader.header
        if h.tile_type not in RASTER_TYPES:
            self._reader.close()
            raise BackgroundError(
                f"{path}: {h.tile_type.name} tiles are not supported; use PNG or JPEG tiles"
            )
        super().__init__(
            attribution or str(meta.get("attribution", "")),
            h.min_zoom,
            max_zoom if max_zoom is not None else h.max_zoom,
        )
        self._closed = False

    def tile(self, z: int, x: int, y: int) -> bytes | None:
        if self._closed:
            return None
        try:
            return self._reader.tile(z, x, y)
        except (PMTilesError, OSError, ValueError) as e:
            self._report(f"{self.path}: cannot read tile {z}/{x}/{y} ({e})")
            return None

    def close(self) -> None:
        self._closed = True
        self._reader.close()


class XYZSource(TileSource):
    """Tiles from ``https://…/{z}/{x}/{y}.png``, cached on disk, fetched off the caller's thread.

    A cached tile older than ``max_age`` is shown and fetched again in the background. A
    failed tile is not asked for again for ``retry_after`` seconds.
    """

    kind = "xyz"

    def __init__(
        self,
        url: str,
        cache_dir: Path,
        attribution: str = "",
        max_zoom: int = 19,
        workers: int = 2,
        timeout: float = 10.0,
        max_age: float = 30 * 86400,
        retry_after: float = 60.0,
    ) -> None:
        super().__init__(attribution, 0, max_zoom)
        self.url = url
        self.cache_dir = cache_dir
        self.max_age = max_age
        self.retry_after = retry_after
        self._lock = threading.Lock()
        self._pending: set[tuple[int, int, int]] = set()
        self._failed: dict[tuple[int, int, int], float] = {}
        self._closed = False
        self.fetched = 0  # tiles downloaded, for tests and statistics
        self._client = httpx.Client(
            timeout=timeout,
            follow_redirects=True,
            # Tile servers (OpenStreetMap's policy among them) require an identifying agent.
            headers={"User-Agent": f"Torrazzo/{__version__} (video surveillance map)"},
        )
        self._pool = ThreadPoolExecutor(max_workers=workers, thread_name_prefix="map-tiles")

    def _cache_path(self, z: int, x: int, y: int) -> Path:
        return self.cache_dir / str(z) / str(x) / f"{y}.tile"

    def tile(self, z: int, x: int, y: int) -> bytes | None:
        path = self._cache_path(z, x, y)
        data: bytes | None = None
        stale = True
        try:
            data = path.read_bytes()
            stale = time.time() - path.stat().st_mtime > self.max_age
        except OSError:
            pass
        if stale:
            self._schedule(z, x, y)
        return data

    def _schedule(self, z: int, x: int, y: int) -> None:
        key = (z, x, y)
        with self._lock:
            if self._closed or key in self._pending:
                return
            failed_at = self._failed.get(key)
            if failed_at is not None and time.monotonic() - failed_at < self.retry_after:
                return
            self._pending.add(key)
        self._pool.submit(self._fetch, key)

    def _fetch(self, key: tuple[int, int, int]) -> None:
        z, x, y = key
        url = self.url.format(z=z, x=x, y=y, s="a")
        try:
            if self._closed:
                return
            r = self._client.get(url)
            if r.status_code != 200:
                raise BackgroundError(f"tile server answered {r.status_code} for {url}")
            self._store(key, r.content)
            with self._lock:
                self._failed.pop(key, None)
                self.fetched += 1
            self.tile_ready.emit(z, x, y)
        except (httpx.HTTPError, BackgroundError, OSError) as e:
            with self._lock:
                self._failed[key] = time.monotonic()
            if not self._closed:
                self._report(f"cannot fetch map tiles from {_host(self.url)}: {e}")
        finally:
            with self._lock:
                self._pending.discard(key)

    def _store(self, key: tuple[int, int, int], data: bytes) -> None:
        path = self._cache_path(*key)
        path.parent.mkdir(parents=True, exist_ok=True)
        fd, tmp = tempfile.mkstemp(dir=path.parent, suffix=".part")
        try:
            with os.fdopen(fd, "wb") as f:
                f.write(data)
            os.replace(tmp, path)
        except BaseException:
            Path(tmp).unlink(missing_ok=True)
            raise

    def pending(self) -> int:
        with self._lock:
            return len(self._pending)

    def close(self) -> None:
        with self._lock:
            self._closed = True
        self._pool.shutdown(wait=False, cancel_futures=True)
        self._client.close()


def _host(url: str) -> str:
    return httpx.URL(url.replace("{", "").replace("}", "")).host or url


@dataclass(frozen=True, slots=True)
class ImageBackground:
    """A picture under the map: a floor plan in pixels, or placed on the globe by ``bounds``."""

    path: Path
    bounds: tuple[tuple[float, float], tuple[float, float]] | None = None
    attribution: str = ""


def resolve(site: Site, value: str) -> Path:
    """A background path from the site file: relative paths are relative to that file."""
    p = Path(value).expanduser()
    if not p.is_absolute() and site.path is not None:
        p = site.path.parent / p
    return p


def default_cache_dir(url: str) -> Path:
    from platformdirs import user_cache_dir

    digest = hashlib.sha1(url.encode(), usedforsecurity=False).hexdigest()[:12]
    return Path(user_cache_dir("torrazzo", appauthor=False)) / "tiles" / digest


def check_image(path: Path) -> str:
    """The image format by signature; raises BackgroundError for a missing or foreign file."""
    try:
        with path.open("rb") as f:
            head = f.read(16)
    except OSError as e:
        raise BackgroundError(f"cannot read the map image {path}: {e.strerror or e}") from e
    for sig, name in IMAGE_SIGNATURES.items():
        if head.startswith(sig):
            return name
    if head[:4] == b"RIFF" and head[8:12] == b"WEBP":
        return "WebP"
    raise BackgroundError(f"{path}: not an image file (PNG, JPEG, GIF, BMP or WebP)")


def open_background(site: Site) -> TileSource | ImageBackground | None:
    """The site's background, opened; None when it has none. Raises BackgroundError."""
    bg: MapBackground | None = site.map_background
    if bg is None:
        return None
    if bg.kind == "mbtiles":
        return MBTilesSource(resolve(site, bg.path), bg.attribution, bg.max_zoom)
    if bg.kind == "pmtiles":
        return PMTilesSource(resolve(site, bg.path), bg.attribution, bg.max_zoom)
    if bg.kind == "xyz":
        cache = resolve(site, bg.cache) if bg.cache else default_cache_dir(bg.url)
        return XYZSource(bg.url, cache, bg.attribution, bg.max_zoom or 19)
    if bg.kind == "image":
        path = resolve(site, bg.path)
        check_image(path)
        return ImageBackground(path, bg.bounds, bg.attribution)
    raise BackgroundError(f"unknown map background kind '{bg.kind}'")
