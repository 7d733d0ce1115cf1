"""Layouts: built-in geometry, pure operations and crash-safe persistence."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from app.layouts import ops
from app.layouts.model import BUILTIN_LAYOUTS, Cell, LayoutSpec, Tile
from app.layouts.store import WallModel, load_wall_state, save_wall_state


@pytest.mark.parametrize(
    ("name", "tiles"),
    [
        ("1x1", 1),
        ("2x2", 4),
        ("3x3", 9),
        ("4x4", 16),
        ("5x5", 25),
        ("6x6", 36),
        ("8x8", 64),
        ("1+5", 6),
        ("1+7", 8),
        ("1+12", 13),
        ("2+8", 10),
    ],
)
def test_builtin_layouts_cover_their_grid_without_overlap(name: str, tiles: int) -> None:
    spec = BUILTIN_LAYOUTS[name]
    assert spec.size == tiles
    covered = set().union(*(c.cells() for c in spec.cells))
    assert covered == {(r, c) for r in range(spec.rows) for c in range(spec.cols)}


def test_overlapping_tiles_are_rejected() -> None:
    with pytest.raises(ValueError, match="overlap"):
        LayoutSpec("bad", 2, 2, (Cell(0, 0, 2, 2), Cell(1, 1)))
    with pytest.raises(ValueError, match="leaves"):
        LayoutSpec("bad", 2, 2, (Cell(1, 1, 2, 1),))


def test_assign_swap_maximize_and_focus_are_pure() -> None:
    lay = ops.new_layout("2x2", ["a", "b", "c"])
    assert [t.camera_id for t in lay.tiles] == ["a", "b", "c", None]
    swapped = ops.swap(lay, 0, 3)
    assert [t.camera_id for t in swapped.tiles] == [None, "b", "c", "a"]
    assert [t.camera_id for t in lay.tiles] == ["a", "b", "c", None]  # input untouched
    maxed = ops.toggle_maximize(swapped, 3)
    assert maxed.maximized == 3
    assert ops.toggle_maximize(maxed, 0).maximized is None
    assigned = ops.assign(lay, 3, "d")
    assert assigned.tiles[3] == Tile("d")
    assert assigned.focused == 3


def test_keyboard_navigation_follows_spanning_tiles() -> None:
    lay = ops.new_layout("1+5")  # big 2x2 at top-left, then small tiles
    right = ops.move_focus(lay, 0, 1)
    assert lay.spec.cells[right.focused] == Cell(0, 2)
    down = ops.move_focus(right, 1, 0)
    assert lay.spec.cells[down.focused] == Cell(1, 2)
    left = ops.move_focus(down, 0, -1)
    assert left.focused == 0  # back into the big tile
    assert ops.move_focus(lay, -1, 0) == lay  # edge: nothing above


def test_wall_model_keeps_each_layouts_cameras(tmp_path: Path) -> None:
    model = WallModel(load_wall_state(tmp_path / "none.json"), ["c1", "c2", "c3", "c4", "c5"])
    seen = []
    model.changed.connect(seen.append)
    model.set_layout("3x3")
    model.apply(lambda lay: ops.assign(lay, 0, "c5"))
    model.set_layout("1x1")
    model.set_layout("3x3")
    assert model.layout.tiles[0].camera_id == "c5"
    assert len(seen) == 4
    with pytest.raises(KeyError, match="unknown layout"):
        model.set_layout("7x7")


def test_state_round_trip_and_unreadable_file_is_kept_aside(tmp_path: Path) -> None:
    path = tmp_path / "wall.json"
    model = WallModel(load_wall_state(path), ["a", "b"])
    model.set_layout("1+5")
    model.apply(lambda lay: ops.toggle_maximize(ops.swap(lay, 0, 1), 1))
    save_wall_state(path, model.state())
    again = WallModel(load_wall_state(path))
    assert again.current == "1+5"
    assert again.layout == model.layout
    assert json.loads(path.read_text())["version"] == 1
    path.write_text("{ truncated")
    fresh = load_wall_state(path)
    assert fresh.layouts == {}
    kept = list(tmp_path.glob("wall.json.unreadable-*"))
    assert len(kept) == 1
    assert kept[0].read_text() == "{ truncated"


def test_relayout_keeps_order_and_fills_from_fallback() -> None:
    lay = ops.new_layout("2x2", ["a", "b", "c", "d"])
    small = ops.relayout(lay, "1x1")
    assert [t.camera_id for t in small.tiles] == ["a"]
    big = ops.relayout(lay, "3x3", ["a", "e", "f"])
    assert [t.camera_id for t in big.tiles][:6] == ["a", "b", "c", "d", "e", "f"]


def test_expand_and_collapse_a_multi_optic_device() -> None:
    lay = ops.new_layout("3x3", ["a", "quad", "b", "c", "d"])
    expanded = ops.expand_device(lay, 1, 4)
    assert [(t.camera_id, t.optic) for t in expanded.tiles][:8] == [
        ("a", None),
        ("quad", 0),
        ("quad", 1),
        ("quad", 2),
        ("quad", 3),
        ("b", None),
        ("c", None),
        ("d", None),
    ]
    back = ops.collapse_device(expanded, 3)
    assert back.tiles == lay.tiles
    assert back.focused == 1
    # Selecting an optic is kept with the layout, and None returns to the mosaic.
    selected = ops.select_optic(lay, 1, 2)
    assert selected.tiles[1] == Tile("quad", 2)
    assert ops.select_optic(selected, 1, None).tiles[1] == Tile("quad", None)
