"""Test data for the map: PNG tiles without Qt, tile files, a local tile server, sites."""

from __future__ import annotations

import re
import sqlite3
import struct
import threading
import zlib
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

from app.maps.pmtiles import write_pmtiles


def png(width: int, height: int, rgb: tuple[int, int, int]) -> bytes:
    """A solid-colour RGB PNG, encoded with the standard library."""

    def chunk(kind: bytes, data: bytes) -> bytes:
        body = kind + data
        return struct.pack(">I", len(data)) + body + struct.pack(">I", zlib.crc32(body))

    row = b"\x00" + bytes(rgb) * width
    raw = zlib.compress(row * height)
    ihdr = struct.pack(">IIBBBBB", width, height, 8, 2, 0, 0, 0)
    return b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", ihdr) + chunk(b"IDAT", raw) + chunk(b"IEND", b"")


def tile_colour(z: int, x: int, y: int) -> tuple[int, int, int]:
    """A distinct, light colour per tile, so a test can tell which tile is drawn where."""
    return 150 + (x * 37) % 100, 150 + (y * 53) % 100, 150 + (z * 17) % 100


def write_mbtiles(path: Path, tiles: dict[tuple[int, int, int], bytes], **meta: str) -> Path:
    db = sqlite3.connect(path)
    db.execute("CREATE TABLE metadata (name TEXT, value TEXT)")
    db.execute(
        "CREATE TABLE tiles (zoom_level INTEGER, tile_column INTEGER, tile_row INTEGER,"
        " tile_data BLOB)"
    )
    db.executemany("INSERT INTO metadata VALUES (?, ?)", [("format", "png"), *meta.items()])
    db.executemany(
        "INSERT INTO tiles VALUES (?, ?, ?, ?)",
        [(z, x, (1 << z) - 1 - y, data) for (z, x, y), data in tiles.items()],
    )
    db.commit()
    db.close()
    return path


def pmtiles_file(path: Path, tiles: dict[tuple[int, int, int], bytes], **kw: object) -> Path:
    write_pmtiles(path, tiles, metadata={"attribution": "test tiles"}, **kw)  # type: ignore[arg-type]
    return path


@dataclass
class TileServer:
    port: int
    requests: list[str] = field(default_factory=list)
    fail: bool = False

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}/tiles/{{z}}/{{x}}/{{y}}.png"


@contextmanager
def tile_server() -> Iterator[TileServer]:
    """A real HTTP tile server on 127.0.0.1 serving generated 256-px PNGs."""
    state = TileServer(0)

    class Handler(BaseHTTPRequestHandler):
        def do_GET(self) -> None:
            state.requests.append(self.path)
            m = re.fullmatch(r"/tiles/(\d+)/(\d+)/(\d+)\.png", self.path)
            if state.fail or m is None:
                self.send_error(503 if state.fail else 404)
                return
            body = png(256, 256, tile_colour(*(int(g) for g in m.groups())))
            self.send_response(200)
            self.send_header("Content-Type", "image/png")
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            self.wfile.write(body)

        def log_message(self, *args: object) -> None:
            pass

    server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    state.port = server.server_address[1]
    thread = threading.Thread(target=server.serve_forever, name="test-tile-server", daemon=True)
    thread.start()
    try:
        yield state
    finally:
        server.shutdown()
        server.server_close()
        thread.join(5)


SMALL_SITE = """\
# A small site for map tests; this comment must survive an edit.
schema_version: 1
name: Map test site
{map}
neighbourhoods:
  - id: north
    name: North
    outline: [[45.20, 10.00], [45.20, 10.02], [45.19, 10.02], [45.19, 10.00]]
  - id: south
    name: South
    outline: [[45.18, 10.00], [45.18, 10.02], [45.17, 10.02], [45.17, 10.00]]

cameras:
  - id: ptz1
    name: "Piazza PTZ"  # quoted on purpose
    neighbourhood: north
    kind: ptz-dome
    location: piazza
    lat: 45.195
    lon: 10.010
    heading: 90
    fov: 60
    purpose: [crime-prevention, road-safety]
    streams: {{main: "http://127.0.0.1:9/ptz1.ts"}}
  - id: fix1
    name: Fixed one
    neighbourhood: north
    kind: fixed-dome
    lat: 45.192
    lon: 10.015
    heading: 180
    streams: {{main: "http://127.0.0.1:9/fix1.ts"}}
  - id: quad1
    name: Quad one
    neighbourhood: south
    kind: quad-optic
    lat: 45.175
    lon: 10.010
    heading: 0
    fov: 90
    optics:
      - {{name: N, heading: 0, streams: {{main: "http://127.0.0.1:9/q1.ts"}}}}
      - {{name: E, heading: 90, streams: {{main: "http://127.0.0.1:9/q2.ts"}}}}
      - {{name: S, heading: 180, streams: {{main: "http://127.0.0.1:9/q3.ts"}}}}
      - {{name: W, heading: 270, streams: {{main: "http://127.0.0.1:9/q4.ts"}}}}
  - id: bi1
    name: Bi one
    neighbourhood: south
    kind: bi-optic
    map_xy: [120, 80]
    optics:
      - {{name: A, streams: {{main: "http://127.0.0.1:9/b1.ts"}}}}
      - {{name: B, streams: {{main: "http://127.0.0.1:9/b2.ts"}}}}
"""


def write_small_site(path: Path, map_block: str = "") -> Path:
    path.write_text(SMALL_SITE.format(map=map_block), encoding="utf-8")
    return path
