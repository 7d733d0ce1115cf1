"""Tile sources: MBTiles, PMTiles (own v3 reader), XYZ against a local server with a disk cache."""

from __future__ import annotations

import gzip
import json
import sqlite3
import time
from pathlib import Path

import pytest

from app.maps import pmtiles
from app.maps.pmtiles import PMTilesError, PMTilesReader, zxy_to_tile_id
from app.maps.tiles import (
    BackgroundError,
    ImageBackground,
    MBTilesSource,
    PMTilesSource,
    XYZSource,
    open_background,
)
from app.site.loader import load_site
from tests.maps.helpers import (
    pmtiles_file,
    png,
    tile_colour,
    tile_server,
    write_mbtiles,
    write_small_site,
)


def _tiles(zooms: range) -> dict[tuple[int, int, int], bytes]:
    return {
        (z, x, y): png(4, 4, tile_colour(z, x, y))
        for z in zooms
        for x in range(1 << z)
        for y in range(1 << z)
    }


def _wait(cond, timeout: float = 5.0) -> None:
    deadline = time.monotonic() + timeout
    while not cond():
        assert time.monotonic() < deadline, "condition not met in time"
        time.sleep(0.01)


def test_tile_ids_follow_the_spec() -> None:
    # Values from the PMTiles v3 specification's examples.
    assert [
        zxy_to_tile_id(*t) for t in [(0, 0, 0), (1, 0, 0), (1, 0, 1), (1, 1, 1), (1, 1, 0)]
    ] == [
        0,
        1,
        2,
        3,
        4,
    ]
    assert zxy_to_tile_id(2, 0, 0) == 5
    ids = {zxy_to_tile_id(z, x, y) for z in range(5) for x in range(1 << z) for y in range(1 << z)}
    assert ids == set(range(sum(4**z for z in range(5))))


def test_mbtiles_flips_rows_and_reads_metadata(tmp_path: Path) -> None:
    tiles = _tiles(range(3))
    src = MBTilesSource(write_mbtiles(tmp_path / "t.mbtiles", tiles, attribution="© test"))
    assert (src.min_zoom, src.max_zoom, src.attribution) == (0, 2, "© test")
    assert src.tile(2, 1, 3) == tiles[(2, 1, 3)]
    assert src.tile(2, 3, 1) == tiles[(2, 3, 1)]
    assert src.tile(5, 0, 0) is None
    src.close()
    assert src.tile(2, 1, 3) is None


@pytest.mark.parametrize("leaves", [False, True])
def test_pmtiles_reads_root_and_leaf_directories(tmp_path: Path, leaves: bool) -> None:
    tiles = _tiles(range(5))
    same = png(4, 4, (1, 2, 3))
    tiles[(4, 0, 0)] = tiles[(4, 0, 1)] = tiles[(4, 1, 1)] = same  # dedup and runs
    path = pmtiles_file(
        tmp_path / "t.pmtiles",
        tiles,
        **({"max_root_entries": 20, "leaf_size": 16} if leaves else {}),
    )
    reader = PMTilesReader(path)
    assert (reader.header.min_zoom, reader.header.max_zoom) == (0, 4)
    assert (reader.header.leaf_length > 0) is leaves
    for key, data in tiles.items():
        assert reader.tile(*key) == data, key
    assert reader.tile(5, 0, 0) is None
    reader.close()
    src = PMTilesSource(path)
    assert src.attribution == "test tiles"
    assert src.tile(3, 5, 2) == tiles[(3, 5, 2)]
    src.close()


def test_pmtiles_directory_round_trip() -> None:
    entries = [
        pmtiles.Entry(0, 0, 10, 1),
        pmtiles.Entry(1, 10, 5, 3),
        pmtiles.Entry(7, 0, 10, 1),
        pmtiles.Entry(9, 40, 2, 0),
    ]
    assert pmtiles.deserialize_directory(pmtiles.serialize_directory(entries)) == entries
    assert pmtiles.find_entry(entries, 3) == entries[1]  # inside a run
    assert pmtiles.find_entry(entries, 5) is None
    assert pmtiles.find_entry(entries, 12) == entries[3]  # a leaf may hold it


@pytest.mark.parametrize(
    ("content", "message"),
    [
        (b"", "not a PMTiles archive"),
        (b"PMTiles\x02" + bytes(119), "version 2 is not supported"),
        (b"hello world, this is not a tile archive at all" * 4, "not a PMTiles archive"),
    ],
)
def test_broken_pmtiles_file_is_a_clear_error(tmp_path: Path, content: bytes, message: str) -> None:
    path = tmp_path / "broken.pmtiles"
    path.write_bytes(content)
    with pytest.raises(BackgroundError, match=message):
        PMTilesSource(path)


def test_truncated_pmtiles_is_a_clear_error(tmp_path: Path) -> None:
    path = pmtiles_file(tmp_path / "t.pmtiles", _tiles(range(3)))
    data = path.read_bytes()
    path.write_bytes(data[:140])  # header and a piece of the root directory
    with pytest.raises(BackgroundError, match="damaged"):
        PMTilesSource(path)


def test_vector_pmtiles_are_refused(tmp_path: Path) -> None:
    path = tmp_path / "v.pmtiles"
    pmtiles.write_pmtiles(path, {(0, 0, 0): gzip.compress(b"x")}, tile_type=pmtiles.TileType.MVT)
    with pytest.raises(BackgroundError, match="MVT tiles are not supported"):
        PMTilesSource(path)


def test_broken_mbtiles_files_are_clear_errors(tmp_path: Path) -> None:
    junk = tmp_path / "junk.mbtiles"
    junk.write_bytes(b"this is not sqlite" * 100)
    with pytest.raises(BackgroundError, match="not a readable MBTiles file"):
        MBTilesSource(junk)
    other = tmp_path / "other.mbtiles"
    db = sqlite3.connect(other)
    db.execute("CREATE TABLE metadata (name, value)")
    db.execute("CREATE TABLE something (a)")
    db.commit()
    db.close()
    with pytest.raises(BackgroundError, match="no 'tiles' table"):
        MBTilesSource(other)
    with pytest.raises(BackgroundError, match="not found"):
        MBTilesSource(tmp_path / "missing.mbtiles")


def test_xyz_fetches_off_thread_caches_and_reports_errors(tmp_path: Path) -> None:
    with tile_server() as server:
        src = XYZSource(server.url, tmp_path / "cache", "© local", workers=2)
        ready: list[tuple[int, int, int]] = []
        src.tile_ready.connect(lambda z, x, y: ready.append((z, x, y)))
        assert src.tile(12, 2170, 1460) is None  # not cached: fetched in the background
        _wait(lambda: ready == [(12, 2170, 1460)])
        assert src.tile(12, 2170, 1460) == png(256, 256, tile_colour(12, 2170, 1460))
        assert server.requests == ["/tiles/12/2170/1460.png"]
        src.close()
        # A second console start reads the disk cache: no request.
        again = XYZSource(server.url, tmp_path / "cache")
        assert again.tile(12, 2170, 1460) is not None
        assert len(server.requests) == 1
        # A failing server is reported once, not retried at once, and never blocks.
        server.fail = True
        errors: list[str] = []
        again.error.connect(errors.append)
        t0 = time.monotonic()
        assert again.tile(12, 0, 0) is None
        assert time.monotonic() - t0 < 0.1
        _wait(lambda: bool(errors) and again.pending() == 0)
        assert "cannot fetch map tiles from 127.0.0.1" in errors[0]
        assert "503" in errors[0]
        assert again.tile(12, 0, 0) is None
        time.sleep(0.1)
        assert server.requests.count("/tiles/12/0/0.png") == 1
        again.close()


def test_open_background_from_the_site_file(tmp_path: Path) -> None:
    write_mbtiles(tmp_path / "city.mbtiles", _tiles(range(2)))
    site = load_site(
        write_small_site(
            tmp_path / "site.yaml",
            "map:\n  background: {kind: mbtiles, path: city.mbtiles, attribution: © Comune}",
        )
    )
    src = open_background(site)
    assert isinstance(src, MBTilesSource)
    assert src.attribution == "© Comune"
    src.close()
    (tmp_path / "plan.png").write_bytes(png(8, 8, (255, 255, 255)))
    site = load_site(
        write_small_site(
            tmp_path / "site.yaml", "map:\n  background: {kind: image, path: plan.png}"
        )
    )
    bg = open_background(site)
    assert isinstance(bg, ImageBackground)
    assert bg.path == tmp_path / "plan.png"
    (tmp_path / "plan.png").write_text("not a picture")
    with pytest.raises(BackgroundError, match="not an image file"):
        open_background(site)


@pytest.mark.parametrize(
    ("block", "message"),
    [
        ("map:\n  background: {kind: xyz}", "needs 'url'"),
        ("map:\n  background: {kind: xyz, url: 'http://h/{z}/{x}.png'}", "{z}, {x} and {y}"),
        ("map:\n  background: {kind: mbtiles}", "needs 'path'"),
        ("map:\n  background: {kind: tiles, path: a}", "'tiles' is not one of"),
        (
            "map:\n  background: {kind: image, path: a.png, bounds: [[45.2, 10], [45.1, 10.1]]}",
            "south",
        ),
    ],
)
def test_background_fields_are_checked(tmp_path: Path, block: str, message: str) -> None:
    from app.site.loader import SiteError

    with pytest.raises(SiteError, match=r"map\.background") as e:
        load_site(write_small_site(tmp_path / "site.yaml", block))
    assert message in str(e.value)
    assert "site.yaml:5: map.background" in str(e.value)


def test_metadata_json(tmp_path: Path) -> None:
    path = pmtiles_file(tmp_path / "t.pmtiles", _tiles(range(1)))
    assert PMTilesReader(path).metadata() == json.loads('{"attribution": "test tiles"}')
    with pytest.raises(PMTilesError):
        pmtiles.Header.unpack(b"PMTiles")
