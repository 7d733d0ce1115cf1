"""Saved layouts shared between workstations; custom grids in the per-user wall state."""

from __future__ import annotations

import json
import os
from pathlib import Path

import pytest

from app.layouts import editor as ed
from app.layouts import ops
from app.layouts.library import (
    LayoutLibrary,
    LibraryError,
    NumberEntry,
    SavedLayout,
    library_path_for,
)
from app.layouts.model import Cell, WallState
from app.layouts.store import WallModel, load_wall_state, save_wall_state
from app.sequences import CameraCycle


def _custom() -> ops.Layout:
    spec = ed.merge(ed.new_spec("Piazza", 3, 4), Cell(0, 0, 2, 2))
    return ops.new_layout(spec, ["c1", "c2", "c3"])


def test_save_rename_duplicate_delete_and_numbers(tmp_path: Path) -> None:
    lib = LayoutLibrary(tmp_path / "site.layouts.json")
    assert lib.entries() == []
    first = lib.save("Piazza", _custom(), {0: CameraCycle(("c1", "c9"), 8.0)})
    assert first.number == 1
    second = lib.save("Stazione", ops.new_layout("2x2", ["c4"]))
    assert second.number == 2
    again = lib.save("Piazza", ops.assign(_custom(), 1, "c7"))  # replace, keep number, cycles
    assert again.number == 1
    assert again.cycles[0].cameras == ("c1", "c9")
    copy = lib.duplicate("Piazza", "Piazza notte")
    assert copy.number == 3
    assert copy.layout.spec.cells == again.layout.spec.cells
    lib.rename("Stazione", "Stazione FS")
    lib.delete("Piazza")
    assert [(e.number, e.name) for e in lib.entries()] == [(2, "Stazione FS"), (3, "Piazza notte")]
    assert lib.save("Nuovo", ops.new_layout("1x1")).number == 1  # the free number is reused
    lib.set_number("Nuovo", 3)
    assert lib.by_number(3).name == "Nuovo"
    assert lib.by_number(1).name == "Piazza notte"
    for bad, match in (("2x2", "built-in"), ("Nuovo", "already exists"), (" ", "needs a name")):
        with pytest.raises(LibraryError, match=match):
            lib.duplicate("Nuovo", bad)
    with pytest.raises(LibraryError, match="no saved layout"):
        lib.delete("ghost")


def test_another_workstation_sees_changes_through_the_shared_file(tmp_path: Path) -> None:
    path = tmp_path / "share" / "cremona.layouts.json"
    room_a = LayoutLibrary(path)
    room_b = LayoutLibrary(path)
    seen: list[int] = []
    room_b.changed.connect(lambda: seen.append(1))
    room_a.save("Piazza", _custom())
    # mtime granularity can be coarse on shares: bump it so the check cannot miss the write.
    st = path.stat()
    os.utime(path, ns=(st.st_atime_ns, st.st_mtime_ns + 1_000_000_000))
    got = room_b.get("Piazza")
    assert got is not None
    assert got.layout.spec == _custom().spec
    assert [t.camera_id for t in got.layout.tiles][:3] == ["c1", "c2", "c3"]
    assert seen == [1]
    assert room_b.refresh() is False  # unchanged file: not re-read
    # A broken write on the share keeps the last good list instead of emptying the walls.
    path.write_text("{ half")
    assert room_b.refresh() is False
    assert room_b.get("Piazza") is not None
    assert json.loads(json.dumps(1)) == 1
    assert library_path_for(Path("/srv/sites/cremona.yaml"), "x", tmp_path) == Path(
        "/srv/sites/cremona.layouts.json"
    )
    assert library_path_for(None, "cremona", tmp_path) == tmp_path / "cremona.layouts.json"


def test_wall_state_keeps_custom_grids_and_old_files_still_load(tmp_path: Path) -> None:
    path = tmp_path / "wall.json"
    model = WallModel(WallState(), ["c1", "c2"])
    seen = []
    model.changed.connect(seen.append)
    model.put_layout("Piazza", _custom())
    assert model.current == "Piazza"
    assert len(seen) == 1
    model.apply(lambda lay: ops.assign(lay, 4, "c8"))
    save_wall_state(path, model.state())
    data = json.loads(path.read_text())
    assert data["layouts"]["Piazza"]["grid"]["cells"][0] == [0, 0, 2, 2]
    assert "grid" not in data["layouts"]["2x2"]  # built-in layouts stay a plain name
    back = WallModel(load_wall_state(path))
    assert back.current == "Piazza"
    assert back.layout == model.layout
    # An old state file (no "grid" anywhere) loads as before.
    old = {
        "version": 1,
        "current": "1+5",
        "layouts": {"1+5": {"spec": "1+5", "name": "", "tiles": [{"camera": "a", "optic": None}]}},
    }
    path.write_text(json.dumps(old))
    legacy = WallModel(load_wall_state(path))
    assert legacy.current == "1+5"
    assert legacy.layout.tiles[0].camera_id == "a"
    # A custom grid that overlaps (hand-edited file) is skipped, the rest loads.
    broken = {
        "current": "bad",
        "layouts": {
            "bad": {
                "spec": "bad",
                "grid": {"rows": 1, "cols": 1, "cells": [[0, 0, 1, 1], [0, 0, 1, 1]]},
            }
        },
    }
    path.write_text(json.dumps(broken))
    assert WallModel(load_wall_state(path)).current == "2x2"


def test_number_pad_entry_with_timeout() -> None:
    t = [0.0]
    entry = NumberEntry(lambda: t[0], timeout_s=3.0)
    assert entry.enter() is None
    entry.digit(1)
    t[0] += 1
    entry.digit(2)
    assert entry.enter() == 12
    assert entry.enter() is None
    entry.digit(7)
    t[0] += 3.5
    assert entry.pending == ""
    assert entry.enter() is None


def test_a_failed_read_never_becomes_an_overwrite(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    path = tmp_path / "share" / "cremona.layouts.json"
    room_a = LayoutLibrary(path)
    for name in ("Piazza", "Stazione", "Duomo"):
        room_a.save(name, _custom())
    share_down = [True]
    real_read = Path.read_text

    def read_text(self: Path, *args: object, **kwargs: object) -> str:
        if self == path and share_down[0]:
            raise OSError(5, "Input/output error")
        return real_read(self, *args, **kwargs)  # type: ignore[arg-type]

    monkeypatch.setattr(Path, "read_text", read_text)
    # Workstation B starts while the share answers its reads with I/O errors.
    room_b = LayoutLibrary(path)
    assert room_b.unreadable is not None
    with pytest.raises(LibraryError, match="cannot be read"):
        room_b.save("Notte", _custom())
    share_down[0] = False
    assert [e.name for e in json_layouts(path)] == ["Piazza", "Stazione", "Duomo"]
    # The share is back: the read is retried (the file did not change meanwhile).
    assert [e.name for e in room_b.entries()] == ["Piazza", "Stazione", "Duomo"]
    assert room_b.unreadable is None
    assert room_b.save("Notte", _custom()).number == 4
    # A damaged file (a half-copied one) is not overwritten either.
    path.write_text("{ half")
    with pytest.raises(LibraryError, match="cannot be read"):
        room_b.save("Alba", _custom())
    assert path.read_text() == "{ half"
    assert [e.name for e in room_b.entries()] == ["Piazza", "Stazione", "Duomo", "Notte"]


def json_layouts(path: Path) -> list[SavedLayout]:
    return LayoutLibrary(path).entries()


def test_layouts_this_version_cannot_read_are_kept(tmp_path: Path) -> None:
    path = tmp_path / "cremona.layouts.json"
    lib = LayoutLibrary(path)
    lib.save("Piazza", _custom())
    data = json.loads(path.read_text())
    newer = {"number": 2, "name": "Future", "layout": {"grid": "hexagonal-7"}}
    data["layouts"].append(newer)
    path.write_text(json.dumps(data))
    other = LayoutLibrary(path)
    assert [e.name for e in other.entries()] == ["Piazza"]
    saved = other.save("Stazione", _custom())
    assert saved.number == 3  # number 2 stays the unreadable layout's
    rows = json.loads(path.read_text())["layouts"]
    assert newer in rows
    assert {r["name"] for r in rows} == {"Piazza", "Future", "Stazione"}


def test_a_write_that_fails_is_a_library_error_and_changes_nothing(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    share = tmp_path / "share"
    lib = LayoutLibrary(share / "cremona.layouts.json")
    lib.save("Piazza", _custom())

    def disk_full(_fd: int) -> None:
        raise OSError(28, "No space left on device")

    monkeypatch.setattr(os, "fsync", disk_full)
    with pytest.raises(LibraryError, match="cannot save"):
        lib.save("Stazione", _custom())
    monkeypatch.undo()
    assert [e.name for e in lib.entries()] == ["Piazza"]
    assert [e.name for e in LayoutLibrary(share / "cremona.layouts.json").entries()] == ["Piazza"]
    assert not [p for p in share.iterdir() if p.name.endswith(".tmp")]
