"""Layout editor operations (pure functions on LayoutSpec) and undo/redo History."""

from __future__ import annotations

import pytest

from app.layouts import editor as ed
from app.layouts.model import Cell


def test_new_grid_and_drag_merge_into_a_spanning_tile() -> None:
    spec = ed.new_spec("Centro", 3, 4)
    assert spec.size == 12
    merged = ed.merge(spec, ed.cell_between((1, 2), (0, 0)))  # a drag from bottom-right up-left
    assert merged.cells[0] == Cell(0, 0, 2, 3)
    assert merged.size == 12 - 6 + 1
    assert ed.empty_cells(merged) == []
    assert spec.size == 12  # the input is untouched
    # A second merge that would cut the spanning tile is refused, not silently applied.
    with pytest.raises(ed.EditError, match="partly inside"):
        ed.merge(merged, Cell(1, 2, 2, 2))


def test_resize_move_add_remove_refuse_overlaps_and_leaving_the_grid() -> None:
    spec = ed.remove_tile(ed.new_spec("x", 2, 2), 1)  # (0,1) now empty
    assert ed.empty_cells(spec) == [(0, 1)]
    wide = ed.resize_tile(spec, 0, 1, 2)
    assert wide.cells[0] == Cell(0, 0, 1, 2)
    with pytest.raises(ed.EditError, match="overlap"):
        ed.resize_tile(wide, 0, 2, 2)
    with pytest.raises(ed.EditError, match="leaves"):
        ed.resize_tile(wide, 0, 1, 3)
    with pytest.raises(ed.EditError, match="overlaps"):
        ed.add_tile(wide, Cell(0, 1))
    with pytest.raises(ed.EditError, match="overlap"):
        ed.move_tile(wide, 1, 0, 0)
    moved = ed.move_tile(spec, 0, 0, 1)
    assert ed.empty_cells(moved) == [(0, 0)]
    assert ed.add_tile(moved, Cell(0, 0)).size == 4
    with pytest.raises(ed.EditError, match="no tile 9"):
        ed.remove_tile(spec, 8)


def test_split_fill_grid_resize_and_tiles_stay_in_reading_order() -> None:
    spec = ed.merge(ed.new_spec("s", 3, 3), Cell(1, 1, 2, 2))
    assert [(c.row, c.col) for c in spec.cells] == sorted((c.row, c.col) for c in spec.cells)
    big = ed.tile_at(spec, 2, 2)
    assert big is not None
    assert spec.cells[big] == Cell(1, 1, 2, 2)
    assert ed.split(spec, big) == ed.new_spec("s", 3, 3)
    bigger = ed.resize_grid(spec, 4, 5)
    assert (bigger.rows, bigger.cols) == (4, 5)
    assert ed.empty_cells(bigger) == []
    with pytest.raises(ed.EditError, match="spans beyond"):
        ed.resize_grid(spec, 2, 2)
    assert ed.resize_grid(ed.new_spec("s", 3, 3), 2, 2) == ed.new_spec("s", 2, 2)
    with pytest.raises(ed.EditError, match="1 to 16"):
        ed.new_spec("huge", 17, 1)
    with pytest.raises(ed.EditError, match="at most 64"):
        ed.new_spec("many", 9, 9)
    assert ed.rename(spec, "  Piazza  ").name == "Piazza"
    with pytest.raises(ed.EditError, match="name"):
        ed.rename(spec, " ")
    assert ed.from_builtin("1+5", "mine").cells[0] == Cell(0, 0, 2, 2)


def test_history_undo_redo_and_a_new_edit_drops_the_redo_branch() -> None:
    a = ed.new_spec("h", 2, 2)
    b = ed.merge(a, Cell(0, 0, 1, 2))
    c = ed.merge(b, Cell(1, 0, 1, 2))
    h = ed.History(a).push(b).push(c)
    assert h.current == c
    assert h.push(c) is h  # no-op edits do not fill the history
    h = h.undo()
    assert h.current == b
    assert h.can_redo
    h = h.undo()
    assert h.current == a
    assert not h.can_undo
    assert h.undo() == h
    h = h.redo()
    assert h.current == b
    d = ed.split(b, 0)
    h2 = h.push(d)
    assert h2.current == d
    assert not h2.can_redo
    assert h2.undo().current == b
    small = ed.History(a, limit=2).push(b).push(c).push(a)
    assert len(small.past) == 2
