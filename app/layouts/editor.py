"""Custom layout editing as pure functions on LayoutSpec, and an undo/redo History.

Every operation returns a new spec or raises EditError; none ever produces overlapping
tiles or a tile outside the grid (LayoutSpec itself refuses those).
"""

from __future__ import annotations

from dataclasses import dataclass, replace

from app.layouts.model import BUILTIN_LAYOUTS, Cell, LayoutSpec

MAX_GRID = 16  # rows or columns; the wall's grid stretches are set for this many
MAX_TILES = 64  # what one window can decode and show (Nx: 64 items on x64)


class EditError(ValueError):
    """An edit that would break the layout: overlap, outside the grid, too many tiles."""


def _ordered(cells: list[Cell] | tuple[Cell, ...]) -> tuple[Cell, ...]:
    # Tiles are kept in reading order so that tile numbers follow the eye.
    return tuple(sorted(cells, key=lambda c: (c.row, c.col)))


def _make(name: str, rows: int, cols: int, cells: list[Cell] | tuple[Cell, ...]) -> LayoutSpec:
    if not (1 <= rows <= MAX_GRID and 1 <= cols <= MAX_GRID):
        raise EditError(f"a grid is 1 to {MAX_GRID} rows and columns, not {rows}x{cols}")
    if len(cells) > MAX_TILES:
        raise EditError(f"at most {MAX_TILES} tiles in a layout, not {len(cells)}")
    for cell in cells:
        if cell.rows < 1 or cell.cols < 1:
            raise EditError(f"a tile spans at least one cell: {cell}")
    try:
        return LayoutSpec(name, rows, cols, _ordered(cells))
    except ValueError as e:
        raise EditError(str(e)) from None


def new_spec(name: str, rows: int, cols: int) -> LayoutSpec:
    """A rows x cols grid of single-cell tiles."""
    return _make(name, rows, cols, [Cell(r, c) for r in range(rows) for c in range(cols)])


def from_builtin(builtin: str, name: str) -> LayoutSpec:
    """A copy of a built-in layout under a new name, to start editing from."""
    spec = BUILTIN_LAYOUTS[builtin]
    return _make(name, spec.rows, spec.cols, spec.cells)


def rename(spec: LayoutSpec, name: str) -> LayoutSpec:
    name = name.strip()
    if not name:
        raise EditError("a layout needs a name")
    return replace(spec, name=name)


def overlaps(spec: LayoutSpec, cell: Cell, ignore: int | None = None) -> list[int]:
    """Indexes of the tiles that ``cell`` would overlap (``ignore``: the tile being moved)."""
    covered = cell.cells()
    return [i for i, c in enumerate(spec.cells) if i != ignore and c.cells() & covered]


def fits(spec: LayoutSpec, cell: Cell) -> bool:
    return (
        cell.row >= 0
        and cell.col >= 0
        and cell.rows >= 1
        and cell.cols >= 1
        and cell.row + cell.rows <= spec.rows
        and cell.col + cell.cols <= spec.cols
    )


def tile_at(spec: LayoutSpec, row: int, col: int) -> int | None:
    return next((i for i, c in enumerate(spec.cells) if (row, col) in c.cells()), None)


def empty_cells(spec: LayoutSpec) -> list[tuple[int, int]]:
    covered = set().union(*(c.cells() for c in spec.cells)) if spec.cells else set()
    return [(r, c) for r in range(spec.rows) for c in range(spec.cols) if (r, c) not in covered]


def add_tile(spec: LayoutSpec, cell: Cell) -> LayoutSpec:
    if not fits(spec, cell):
        raise EditError(f"tile {cell} leaves the {spec.rows}x{spec.cols} grid")
    hit = overlaps(spec, cell)
    if hit:
        raise EditError(f"tile {cell} overlaps tiles {[i + 1 for i in hit]}")
    return _make(spec.name, spec.rows, spec.cols, [*spec.cells, cell])


def remove_tile(spec: LayoutSpec, index: int) -> LayoutSpec:
    _check(spec, index)
    return _make(
        spec.name, spec.rows, spec.cols, [c for i, c in enumerate(spec.cells) if i != index]
    )


def _replace_tile(spec: LayoutSpec, index: int, cell: Cell) -> LayoutSpec:
    _check(spec, index)
    if not fits(spec, cell):
        raise EditError(f"tile {cell} leaves the {spec.rows}x{spec.cols} grid")
    hit = overlaps(spec, cell, ignore=index)
    if hit:
        raise EditError(f"tile {index + 1} would overlap tiles {[i + 1 for i in hit]}")
    cells = list(spec.cells)
    cells[index] = cell
    return _make(spec.name, spec.rows, spec.cols, cells)


def resize_tile(spec: LayoutSpec, index: int, rows: int, cols: int) -> LayoutSpec:
    """Change a tile's span, keeping its top-left corner."""
    old = _check(spec, index)
    return _replace_tile(spec, index, Cell(old.row, old.col, rows, cols))


def move_tile(spec: LayoutSpec, index: int, row: int, col: int) -> LayoutSpec:
    """Move a tile's top-left corner, keeping its span."""
    old = _check(spec, index)
    return _replace_tile(spec, index, Cell(row, col, old.rows, old.cols))


def merge(spec: LayoutSpec, area: Cell) -> LayoutSpec:
    """Drag over an area: the tiles wholly inside become one tile spanning it.

    A tile that is only partly inside would be cut, so the edit is refused instead.
    """
    if not fits(spec, area):
        raise EditError(f"area {area} leaves the {spec.rows}x{spec.cols} grid")
    inside = area.cells()
    keep: list[Cell] = []
    for i, c in enumerate(spec.cells):
        mine = c.cells()
        if mine <= inside:
            continue
        if mine & inside:
            raise EditError(f"tile {i + 1} is only partly inside {area}; it would be cut")
        keep.append(c)
    return _make(spec.name, spec.rows, spec.cols, [*keep, area])


def split(spec: LayoutSpec, index: int) -> LayoutSpec:
    """A spanning tile becomes single-cell tiles."""
    old = _check(spec, index)
    ones = [Cell(r, c) for r, c in sorted(old.cells())]
    rest = [c for i, c in enumerate(spec.cells) if i != index]
    return _make(spec.name, spec.rows, spec.cols, rest + ones)


def fill_empty(spec: LayoutSpec) -> LayoutSpec:
    """Single-cell tiles on every cell that no tile covers."""
    return _make(
        spec.name, spec.rows, spec.cols, [*spec.cells, *(Cell(r, c) for r, c in empty_cells(spec))]
    )


def resize_grid(spec: LayoutSpec, rows: int, cols: int) -> LayoutSpec:
    """Change the grid size; new cells get single tiles, a tile cut by shrinking is refused."""
    for i, c in enumerate(spec.cells):
        cut = c.row + c.rows > rows or c.col + c.cols > cols
        if cut and c.row < rows and c.col < cols and (c.rows > 1 or c.cols > 1):
            raise EditError(f"tile {i + 1} spans beyond a {rows}x{cols} grid")
    kept = [c for c in spec.cells if c.row + c.rows <= rows and c.col + c.cols <= cols]
    return fill_empty(_make(spec.name, rows, cols, kept))


def cell_between(a: tuple[int, int], b: tuple[int, int]) -> Cell:
    """The rectangle with corners at cells ``a`` and ``b`` (a mouse drag), in any direction."""
    r0, r1 = sorted((a[0], b[0]))
    c0, c1 = sorted((a[1], b[1]))
    return Cell(r0, c0, r1 - r0 + 1, c1 - c0 + 1)


def _check(spec: LayoutSpec, index: int) -> Cell:
    if not 0 <= index < spec.size:
        raise EditError(f"no tile {index + 1} in layout {spec.name} ({spec.size} tiles)")
    return spec.cells[index]


@dataclass(frozen=True, slots=True)
class History:
    """Undo/redo over immutable specs: each method returns a new History.

    ``push`` after an undo drops the redo branch, as every editor does.
    """

    current: LayoutSpec
    past: tuple[LayoutSpec, ...] = ()
    future: tuple[LayoutSpec, ...] = ()
    limit: int = 200

    @property
    def can_undo(self) -> bool:
        return bool(self.past)

    @property
    def can_redo(self) -> bool:
        return bool(self.future)

    def push(self, spec: LayoutSpec) -> History:
        if spec == self.current:
            return self
        past = (*self.past, self.current)[-self.limit :]
        return History(spec, past, (), self.limit)

    def undo(self) -> History:
        if not self.past:
            return self
        return History(self.past[-1], self.past[:-1], (self.current, *self.future), self.limit)

    def redo(self) -> History:
        if not self.future:
            return self
        return History(self.future[0], (*self.past, self.current), self.future[1:], self.limit)
