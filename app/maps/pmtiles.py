"""PMTiles version 3: a single-file tile archive (header, Hilbert-ordered directories, tiles).

Reader for the map background, and a small writer for exporting and for tests. The format
is https://github.com/protomaps/PMTiles/blob/main/spec/v3/spec.md: a 127-byte little-endian
header; directories of (tile id, offset, length, run length) stored as varint columns,
optionally gzip-compressed; an entry with run length 0 points at a leaf directory.
"""

from __future__ import annotations

import enum
import gzip
import io
import json
import struct
import threading
import zlib
from collections import OrderedDict
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any, BinaryIO

MAGIC = b"PMTiles"
HEADER_SIZE = 127
MAX_DEPTH = 4  # root + up to 3 levels of leaves, as the spec allows
_HEADER = struct.Struct("<7sB11Q4B2B4iB2i")


class PMTilesError(Exception):
    """Not a PMTiles v3 archive, or a damaged one."""


class Compression(enum.IntEnum):
    UNKNOWN = 0
    NONE = 1
    GZIP = 2
    BROTLI = 3
    ZSTD = 4


class TileType(enum.IntEnum):
    UNKNOWN = 0
    MVT = 1
    PNG = 2
    JPEG = 3
    WEBP = 4
    AVIF = 5


@dataclass(frozen=True, slots=True)
class Header:
    root_offset: int
    root_length: int
    metadata_offset: int
    metadata_length: int
    leaf_offset: int
    leaf_length: int
    data_offset: int
    data_length: int
    addressed_tiles: int
    tile_entries: int
    tile_contents: int
    clustered: bool
    internal_compression: Compression
    tile_compression: Compression
    tile_type: TileType
    min_zoom: int
    max_zoom: int
    bounds_e7: tuple[int, int, int, int]  # min lon, min lat, max lon, max lat
    center_zoom: int
    center_e7: tuple[int, int]  # lon, lat

    def pack(self) -> bytes:
        return _HEADER.pack(
            MAGIC,
            3,
            self.root_offset,
            self.root_length,
            self.metadata_offset,
            self.metadata_length,
            self.leaf_offset,
            self.leaf_length,
            self.data_offset,
            self.data_length,
            self.addressed_tiles,
            self.tile_entries,
            self.tile_contents,
            int(self.clustered),
            self.internal_compression,
            self.tile_compression,
            self.tile_type,
            self.min_zoom,
            self.max_zoom,
            *self.bounds_e7,
            self.center_zoom,
            *self.center_e7,
        )

    @classmethod
    def unpack(cls, data: bytes) -> Header:
        if len(data) < HEADER_SIZE or data[:7] != MAGIC:
            raise PMTilesError("not a PMTiles archive (no 'PMTiles' signature)")
        if data[7] != 3:
            raise PMTilesError(f"PMTiles version {data[7]} is not supported (this build reads 3)")
        v = _HEADER.unpack(data[:HEADER_SIZE])
        try:
            return cls(
                root_offset=v[2],
                root_length=v[3],
                metadata_offset=v[4],
                metadata_length=v[5],
                leaf_offset=v[6],
                leaf_length=v[7],
                data_offset=v[8],
                data_length=v[9],
                addressed_tiles=v[10],
                tile_entries=v[11],
                tile_contents=v[12],
                clustered=bool(v[13]),
                internal_compression=Compression(v[14]),
                tile_compression=Compression(v[15]),
                tile_type=TileType(v[16]),
                min_zoom=v[17],
                max_zoom=v[18],
                bounds_e7=(v[19], v[20], v[21], v[22]),
                center_zoom=v[23],
                center_e7=(v[24], v[25]),
            )
        except ValueError as e:
            raise PMTilesError(f"damaged PMTiles header: {e}") from e


assert _HEADER.size == HEADER_SIZE


def zxy_to_tile_id(z: int, x: int, y: int) -> int:
    """The Hilbert-curve tile id: all tiles of lower zooms first, then position on the curve."""
    if z > 31:
        raise ValueError("zoom above 31")
    n = 1 << z
    if not (0 <= x < n and 0 <= y < n):
        raise ValueError(f"tile {z}/{x}/{y} outside its zoom level")
    acc = ((1 << (2 * z)) - 1) // 3
    d = 0
    s = n >> 1
    while s > 0:
        rx = 1 if x & s else 0
        ry = 1 if y & s else 0
        d += s * s * ((3 * rx) ^ ry)
        if ry == 0:  # rotate the quadrant so the curve stays continuous
            if rx == 1:
                x = s - 1 - (x & (s - 1))
                y = s - 1 - (y & (s - 1))
            x, y = y, x
        s >>= 1
    return acc + d


@dataclass(frozen=True, slots=True)
class Entry:
    tile_id: int
    offset: int
    length: int
    run_length: int  # 0: a leaf directory


def _read_varint(buf: BinaryIO) -> int:
    shift = result = 0
    while True:
        b = buf.read(1)
        if not b:
            raise PMTilesError("damaged directory (truncated varint)")
        result |= (b[0] & 0x7F) << shift
        if not b[0] & 0x80:
            return result
        shift += 7
        if shift > 63:
            raise PMTilesError("damaged directory (varint too long)")


def _write_varint(out: BinaryIO, value: int) -> None:
    while True:
        byte = value & 0x7F
        value >>= 7
        if value:
            out.write(bytes([byte | 0x80]))
        else:
            out.write(bytes([byte]))
            return


def _decompress(data: bytes, compression: Compression) -> bytes:
    if compression in (Compression.NONE, Compression.UNKNOWN):
        return data
    if compression is Compression.GZIP:
        try:
            return gzip.decompress(data)
        except (OSError, EOFError, zlib.error) as e:
            raise PMTilesError(f"damaged gzip data: {e}") from e
    raise PMTilesError(f"{compression.name.lower()} compression is not supported (use gzip)")


def deserialize_directory(data: bytes) -> list[Entry]:
    buf = io.BytesIO(data)
    n = _read_varint(buf)
    if n > len(data):  # each entry takes at least 4 bytes: a damaged count
        raise PMTilesError("damaged directory (entry count)")
    ids, last = [], 0
    for _ in range(n):
        last += _read_varint(buf)
        ids.append(last)
    runs = [_read_varint(buf) for _ in range(n)]
    lengths = [_read_varint(buf) for _ in range(n)]
    entries: list[Entry] = []
    for i in range(n):
        raw = _read_varint(buf)
        if raw == 0 and i > 0:
            offset = entries[-1].offset + entries[-1].length
        elif raw == 0:
            raise PMTilesError("damaged directory (first offset)")
        else:
            offset = raw - 1
        entries.append(Entry(ids[i], offset, lengths[i], runs[i]))
    return entries


def serialize_directory(entries: list[Entry]) -> bytes:
    out = io.BytesIO()
    _write_varint(out, len(entries))
    last = 0
    for e in entries:
        _write_varint(out, e.tile_id - last)
        last = e.tile_id
    for e in entries:
        _write_varint(out, e.run_length)
    for e in entries:
        _write_varint(out, e.length)
    for i, e in enumerate(entries):
        prev = entries[i - 1] if i else None
        contiguous = prev is not None and e.offset == prev.offset + prev.length
        _write_varint(out, 0 if contiguous else e.offset + 1)
    return out.getvalue()


def find_entry(entries: list[Entry], tile_id: int) -> Entry | None:
    """The entry holding ``tile_id``: exact, inside a run, or the leaf that may hold it."""
    lo, hi = 0, len(entries) - 1
    while lo <= hi:
        mid = (lo + hi) >> 1
        c = tile_id - entries[mid].tile_id
        if c > 0:
            lo = mid + 1
        elif c < 0:
            hi = mid - 1
        else:
            return entries[mid]
    if hi >= 0:
        e = entries[hi]
        if e.run_length == 0 or tile_id - e.tile_id < e.run_length:
            return e
    return None


class PMTilesReader:
    """Reads tiles from a local .pmtiles file. Thread: safe (one lock around the file)."""

    def __init__(self, path: Path | str, cache_dirs: int = 64) -> None:
        self.path = Path(path)
        self._lock = threading.Lock()
        self._file = self.path.open("rb")
        try:
            self.header = Header.unpack(self._file.read(HEADER_SIZE))
            self._size = self.path.stat().st_size
            self._dirs: OrderedDict[tuple[int, int], list[Entry]] = OrderedDict()
            self._cache_dirs = cache_dirs
            self.root = self._directory(self.header.root_offset, self.header.root_length)
        except BaseException:
            self._file.close()
            raise

    def close(self) -> None:
        with self._lock:
            self._file.close()

    def _read(self, offset: int, length: int) -> bytes:
        if offset + length > self._size:
            raise PMTilesError(
                f"damaged archive: {length} bytes at {offset} lie past its end ({self._size})"
            )
        with self._lock:
            self._file.seek(offset)
            return self._file.read(length)

    def _directory(self, offset: int, length: int) -> list[Entry]:
        key = (offset, length)
        cached = self._dirs.get(key)
        if cached is not None:
            self._dirs.move_to_end(key)
            return cached
        data = _decompress(self._read(offset, length), self.header.internal_compression)
        entries = deserialize_directory(data)
        self._dirs[key] = entries
        if len(self._dirs) > self._cache_dirs:
            self._dirs.popitem(last=False)
        return entries

    def metadata(self) -> dict[str, Any]:
        h = self.header
        if h.metadata_length == 0:
            return {}
        raw = _decompress(self._read(h.metadata_offset, h.metadata_length), h.internal_compression)
        try:
            value = json.loads(raw)
        except ValueError as e:
            raise PMTilesError(f"damaged metadata (not JSON): {e}") from e
        return value if isinstance(value, dict) else {}

    def tile(self, z: int, x: int, y: int) -> bytes | None:
        """The tile's bytes (decompressed), or None when the archive does not have it."""
        h = self.header
        if not h.min_zoom <= z <= h.max_zoom:
            return None
        tile_id = zxy_to_tile_id(z, x, y)
        offset, length = h.root_offset, h.root_length
        for depth in range(MAX_DEPTH):
            entries = self.root if depth == 0 else self._directory(offset, length)
            entry = find_entry(entries, tile_id)
            if entry is None:
                return None
            if entry.run_length > 0:
                data = self._read(h.data_offset + entry.offset, entry.length)
                return _decompress(data, h.tile_compression)
            offset, length = h.leaf_offset + entry.offset, entry.length
        raise PMTilesError("damaged archive: directories nested too deep")


def write_pmtiles(
    path: Path | str,
    tiles: Mapping[tuple[int, int, int], bytes],
    tile_type: TileType = TileType.PNG,
    metadata: Mapping[str, Any] | None = None,
    max_root_entries: int = 16384,
    leaf_size: int = 4096,
) -> None:
    """Write ``tiles`` ((z, x, y) → bytes) as a clustered PMTiles v3 archive.

    Identical tiles are stored once (run-length encoded when consecutive). Directories are
    gzip-compressed; with more than ``max_root_entries`` entries, leaves of ``leaf_size``.
    """
    by_id = sorted((zxy_to_tile_id(*k), v) for k, v in tiles.items())
    data = io.BytesIO()
    entries: list[Entry] = []
    seen: dict[bytes, tuple[int, int]] = {}
    for tile_id, blob in by_id:
        last = entries[-1] if entries else None
        if (
            last is not None
            and last.tile_id + last.run_length == tile_id
            and seen.get(blob) == (last.offset, last.length)
        ):
            entries[-1] = Entry(last.tile_id, last.offset, last.length, last.run_length + 1)
            continue
        if blob in seen:
            offset, length = seen[blob]
        else:
            offset, length = data.tell(), len(blob)
            data.write(blob)
            seen[blob] = (offset, length)
        entries.append(Entry(tile_id, offset, length, 1))
    leaves = b""
    if len(entries) <= max_root_entries:
        root = gzip.compress(serialize_directory(entries))
    else:
        root_entries: list[Entry] = []
        leaf_buf = io.BytesIO()
        for i in range(0, len(entries), leaf_size):
            chunk = gzip.compress(serialize_directory(entries[i : i + leaf_size]))
            root_entries.append(Entry(entries[i].tile_id, leaf_buf.tell(), len(chunk), 0))
            leaf_buf.write(chunk)
        root = gzip.compress(serialize_directory(root_entries))
        leaves = leaf_buf.getvalue()
    meta = gzip.compress(json.dumps(dict(metadata or {})).encode())
    zooms = [k[0] for k in tiles] or [0]
    tile_data = data.getvalue()
    root_offset = HEADER_SIZE
    meta_offset = root_offset + len(root)
    leaf_offset = meta_offset + len(meta)
    data_offset = leaf_offset + len(leaves)
    header = Header(
        root_offset=root_offset,
        root_length=len(root),
        metadata_offset=meta_offset,
        metadata_length=len(meta),
        leaf_offset=leaf_offset,
        leaf_length=len(leaves),
        data_offset=data_offset,
        data_length=len(tile_data),
        addressed_tiles=len(tiles),
        tile_entries=len(entries),
        tile_contents=len(seen),
        clustered=True,
        internal_compression=Compression.GZIP,
        tile_compression=Compression.NONE,
        tile_type=tile_type,
        min_zoom=min(zooms),
        max_zoom=max(zooms),
        bounds_e7=(-1800000000, -850511287, 1800000000, 850511287),
        center_zoom=min(zooms),
        center_e7=(0, 0),
    )
    with Path(path).open("wb") as f:
        f.write(header.pack())
        f.write(root)
        f.write(meta)
        f.write(leaves)
        f.write(tile_data)
