"""Layout geometry (LayoutSpec, Cell) and content (Layout, Tile), all immutable."""

from __future__ import annotations

from dataclasses import dataclass, field, replace


@dataclass(frozen=True, slots=True)
class Cell:
    """A rectangle of grid cells: top-left (row, col) and a span."""

    row: int
    col: int
    rows: int = 1
    cols: int = 1

    def cells(self) -> set[tuple[int, int]]:
        return {
            (r, c)
            for r in range(self.row, self.row + self.rows)
            for c in range(self.col, self.col + self.cols)
        }


@dataclass(frozen=True, slots=True)
class LayoutSpec:
    """A grid of ``rows`` x ``cols`` cells covered by tiles in reading order."""

    name: str
    rows: int
    cols: int
    cells: tuple[Cell, ...]

    def __post_init__(self) -> None:
        seen: set[tuple[int, int]] = set()
        for cell in self.cells:
            covered = cell.cells()
            if seen & covered:
                raise ValueError(f"layout {self.name}: tiles overlap at {sorted(seen & covered)}")
            if (
                cell.row + cell.rows > self.rows
                or cell.col + cell.cols > self.cols
                or cell.row < 0
                or cell.col < 0
            ):
                raise ValueError(
                    f"layout {self.name}: tile {cell} leaves the {self.rows}x{self.cols} grid"
                )
            seen |= covered

    @property
    def size(self) -> int:
        return len(self.cells)


def grid(n: int) -> LayoutSpec:
    return LayoutSpec(f"{n}x{n}", n, n, tuple(Cell(r, c) for r in range(n) for c in range(n)))


def _big_plus_small(name: str, n: int, big: Cell, extra_big: tuple[Cell, ...] = ()) -> LayoutSpec:
    taken = big.cells().union(*(c.cells() for c in extra_big))
    small = tuple(Cell(r, c) for r in range(n) for c in range(n) if (r, c) not in taken)
    return LayoutSpec(name, n, n, (big, *extra_big, *small))


BUILTIN_LAYOUTS: dict[str, LayoutSpec] = {
    spec.name: spec
    for spec in (
        grid(1),
        grid(2),
        grid(3),
        grid(4),
        grid(5),
        grid(6),
        grid(8),
        _big_plus_small("1+5", 3, Cell(0, 0, 2, 2)),
        _big_plus_small("1+7", 4, Cell(0, 0, 3, 3)),
        _big_plus_small("1+12", 4, Cell(1, 1, 2, 2)),
        _big_plus_small("2+8", 4, Cell(0, 0, 2, 2), (Cell(0, 2, 2, 2),)),
    )
}


@dataclass(frozen=True, slots=True)
class Tile:
    """What one tile shows: a camera (or nothing) and, for multi-optic cameras, an optic.

    ``optic`` None means the mosaic of all optics; an index selects one optic.
    """

    camera_id: str | None = None
    optic: int | None = None


@dataclass(frozen=True, slots=True)
class Layout:
    """A LayoutSpec filled with tiles, plus which tile is focused or maximised."""

    spec: LayoutSpec
    tiles: tuple[Tile, ...] = ()
    focused: int = 0
    maximized: int | None = None
    name: str = ""  # user-visible name; the spec name when empty

    def __post_init__(self) -> None:
        if len(self.tiles) < self.spec.size:
            object.__setattr__(
                self, "tiles", self.tiles + (Tile(),) * (self.spec.size - len(self.tiles))
            )
        elif len(self.tiles) > self.spec.size:
            object.__setattr__(self, "tiles", self.tiles[: self.spec.size])

    @property
    def title(self) -> str:
        return self.name or self.spec.name

    def with_tiles(self, tiles: tuple[Tile, ...]) -> Layout:
        return replace(self, tiles=tiles)


@dataclass(frozen=True, slots=True)
class WallState:
    """Everything a window's wall needs to come back after a restart."""

    current: str = "2x2"
    layouts: dict[str, Layout] = field(default_factory=dict)
