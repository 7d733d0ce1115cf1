"""Pure operations on layouts: each returns a new Layout and never mutates its input."""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import replace

from app.layouts.model import BUILTIN_LAYOUTS, Layout, LayoutSpec, Tile


def new_layout(spec: LayoutSpec | str, camera_ids: Iterable[str | None] = ()) -> Layout:
    """A layout filled in order with ``camera_ids`` (the rest empty)."""
    if isinstance(spec, str):
        spec = BUILTIN_LAYOUTS[spec]
    tiles = tuple(Tile(cid) for _, cid in zip(range(spec.size), camera_ids, strict=False))
    return Layout(spec, tiles)


def assign(layout: Layout, index: int, camera_id: str | None, optic: int | None = None) -> Layout:
    """Put a camera on tile ``index`` (None clears it)."""
    _check(layout, index)
    tiles = list(layout.tiles)
    tiles[index] = Tile(camera_id, optic)
    return replace(layout, tiles=tuple(tiles), focused=index)


def swap(layout: Layout, a: int, b: int) -> Layout:
    """Exchange the contents of two tiles (drag a tile onto another)."""
    _check(layout, a)
    _check(layout, b)
    tiles = list(layout.tiles)
    tiles[a], tiles[b] = tiles[b], tiles[a]
    return replace(layout, tiles=tuple(tiles), focused=b)


def toggle_maximize(layout: Layout, index: int) -> Layout:
    _check(layout, index)
    if layout.maximized is not None:
        return replace(layout, maximized=None, focused=layout.maximized)
    return replace(layout, maximized=index, focused=index)


def focus(layout: Layout, index: int) -> Layout:
    _check(layout, index)
    return replace(layout, focused=index)


def select_optic(layout: Layout, index: int, optic: int | None) -> Layout:
    """Show one optic of a multi-optic camera on a tile (None: back to the mosaic)."""
    _check(layout, index)
    tiles = list(layout.tiles)
    tiles[index] = replace(tiles[index], optic=optic)
    return replace(layout, tiles=tuple(tiles))


def expand_device(layout: Layout, index: int, optics: int) -> Layout:
    """A multi-optic camera's mosaic on tile ``index`` becomes one tile per optic.

    The optics take ``index`` and the tiles after it; what was there moves along (tiles
    pushed past the end of the layout drop off), so ``collapse_device`` undoes it.
    """
    _check(layout, index)
    camera = layout.tiles[index].camera_id
    if camera is None or optics < 2:
        return layout
    tiles = list(layout.tiles)
    expanded = [Tile(camera, i) for i in range(optics)]
    tiles = tiles[:index] + expanded + tiles[index + 1 :]
    return replace(layout, tiles=tuple(tiles[: layout.spec.size]), focused=index)


def collapse_device(layout: Layout, index: int) -> Layout:
    """Undo ``expand_device``: the camera's per-optic tiles become one mosaic tile again."""
    _check(layout, index)
    camera = layout.tiles[index].camera_id
    if camera is None:
        return layout
    mine = [i for i, t in enumerate(layout.tiles) if t.camera_id == camera and t.optic is not None]
    if not mine:
        return layout
    first = mine[0]
    rest = [t for i, t in enumerate(layout.tiles) if i not in mine]
    rest.insert(first, Tile(camera, None))
    rest += [Tile()] * (layout.spec.size - len(rest))
    return replace(layout, tiles=tuple(rest), focused=first)


def move_focus(layout: Layout, d_row: int, d_col: int) -> Layout:
    """Keyboard navigation: focus the tile next to the focused one in a direction."""
    spec = layout.spec
    cell = spec.cells[layout.focused]
    r, c = cell.row, cell.col
    for _ in range(max(spec.rows, spec.cols)):
        r += d_row
        c += d_col
        if not (0 <= r < spec.rows and 0 <= c < spec.cols):
            return layout
        for i, other in enumerate(spec.cells):
            if i != layout.focused and (r, c) in other.cells():
                return replace(layout, focused=i)
    return layout


def relayout(layout: Layout, spec: LayoutSpec | str, fallback: Sequence[str | None] = ()) -> Layout:
    """The same cameras in another grid: tiles kept in order, new ones from ``fallback``."""
    if isinstance(spec, str):
        spec = BUILTIN_LAYOUTS[spec]
    tiles = [t for t in layout.tiles][: spec.size]
    used = {t.camera_id for t in tiles if t.camera_id}
    extra = iter([c for c in fallback if c not in used])
    while len(tiles) < spec.size:
        tiles.append(Tile(next(extra, None)))
    return Layout(spec, tuple(tiles), focused=min(layout.focused, spec.size - 1))


def _check(layout: Layout, index: int) -> None:
    if not 0 <= index < len(layout.tiles):
        raise IndexError(
            f"tile {index} is not in layout {layout.title} ({len(layout.tiles)} tiles)"
        )
