"""Video walls: screens and the layout each shows, and where a screen's window goes when
its screen is unplugged (pure functions; the Qt windows are in ``widgets.walls``)."""

from __future__ import annotations

import json
import logging
from collections.abc import Sequence
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any

from app.events import Signal
from app.layouts.store import atomic_write, keep_aside
from app.sequences import LayoutCycle

logger = logging.getLogger(__name__)
WALLS_VERSION = 1


@dataclass(frozen=True, slots=True)
class WallScreen:
    """One wall screen: the physical screen it belongs on and the layout it shows."""

    screen: str  # the screen's name as the windowing system gives it (QScreen.name())
    layout: str = "2x2"
    cycle: LayoutCycle | None = None
    title: str = ""  # e.g. "Monitor 3, centre", shown on the window

    @property
    def label(self) -> str:
        return self.title or self.screen


@dataclass(frozen=True, slots=True)
class Wall:
    """A wall: an ordered set of screens (slot i = ``screens[i]``)."""

    name: str = "wall"
    screens: tuple[WallScreen, ...] = ()

    def with_layout(self, slot: int, layout: str) -> Wall:
        return self._with(slot, replace(self.screens[slot], layout=layout))

    def with_cycle(self, slot: int, cycle: LayoutCycle | None) -> Wall:
        return self._with(slot, replace(self.screens[slot], cycle=cycle))

    def with_screen(self, slot: int, screen: str) -> Wall:
        return self._with(slot, replace(self.screens[slot], screen=screen))

    def add(self, screen: WallScreen) -> Wall:
        return replace(self, screens=(*self.screens, screen))

    def remove(self, slot: int) -> Wall:
        self._check(slot)
        return replace(self, screens=self.screens[:slot] + self.screens[slot + 1 :])

    def _with(self, slot: int, ws: WallScreen) -> Wall:
        self._check(slot)
        screens = list(self.screens)
        screens[slot] = ws
        return replace(self, screens=tuple(screens))

    def _check(self, slot: int) -> None:
        if not 0 <= slot < len(self.screens):
            raise IndexError(f"wall {self.name} has no screen {slot + 1}")


@dataclass(frozen=True, slots=True)
class Placement:
    """Where slot ``slot``'s window is now: on ``screen``; ``home`` when that is its own
    screen (shown full screen there), else it is a guest window on a remaining screen."""

    slot: int
    screen: str
    home: bool


def place(wall: Wall, available: Sequence[str], avoid: Sequence[str] = ()) -> tuple[Placement, ...]:
    """Put every wall screen's window on a present screen.

    A slot whose screen is present goes home. A slot whose screen is gone becomes a window
    on the remaining screen with the fewest windows (screens in ``avoid``, such as the
    operator's own, only when nothing else is left; ties go to the earlier screen), so its
    layout stays visible until the screen comes back. With no screen at all, nothing is placed.
    """
    if not available:
        return ()
    load: dict[str, int] = {s: 0 for s in available}
    out: dict[int, Placement] = {}
    for slot, ws in enumerate(wall.screens):
        if ws.screen in load:
            out[slot] = Placement(slot, ws.screen, True)
            load[ws.screen] += 1
    preferred = [s for s in available if s not in avoid] or list(available)
    for slot, ws in enumerate(wall.screens):
        if slot in out:
            continue
        target = min(preferred, key=lambda s: (load[s], preferred.index(s)))
        out[slot] = Placement(slot, target, False)
        load[target] += 1
        logger.info(
            "wall screen %s is gone; its layout %s moves to %s", ws.screen, ws.layout, target
        )
    return tuple(out[i] for i in sorted(out))


def moved(before: Sequence[Placement], after: Sequence[Placement]) -> list[int]:
    """Slots whose placement changed."""
    old = {p.slot: p for p in before}
    return [p.slot for p in after if old.get(p.slot) != p]


def default_wall(screens: Sequence[str], layouts: Sequence[str] = ("2x2",)) -> Wall:
    """A wall over ``screens``, layouts given in turn (the last repeats)."""
    return Wall(
        "wall",
        tuple(
            WallScreen(s, layouts[min(i, len(layouts) - 1)] if layouts else "2x2")
            for i, s in enumerate(screens)
        ),
    )


# -- persistence ------------------------------------------------------------------------------
def wall_to_json(wall: Wall) -> dict[str, Any]:
    screens = []
    for ws in wall.screens:
        row: dict[str, Any] = {"screen": ws.screen, "layout": ws.layout}
        if ws.title:
            row["title"] = ws.title
        if ws.cycle is not None:
            row["cycle"] = {"layouts": list(ws.cycle.layouts), "dwell_s": ws.cycle.dwell_s}
        screens.append(row)
    return {"version": WALLS_VERSION, "name": wall.name, "screens": screens}


def wall_from_json(data: dict[str, Any]) -> Wall:
    screens = []
    for row in data.get("screens", []):
        cycle = row.get("cycle")
        screens.append(
            WallScreen(
                str(row["screen"]),
                str(row.get("layout", "2x2")),
                LayoutCycle(
                    tuple(str(x) for x in cycle["layouts"]), float(cycle.get("dwell_s", 30.0))
                )
                if isinstance(cycle, dict)
                else None,
                str(row.get("title", "")),
            )
        )
    return Wall(str(data.get("name", "wall")), tuple(screens))


def save_wall(path: Path, wall: Wall) -> None:
    atomic_write(path, json.dumps(wall_to_json(wall), indent=1))


def load_wall(path: Path) -> Wall | None:
    """The saved wall, or None when there is none or it cannot be read (logged)."""
    if not path.exists():
        return None
    try:
        return wall_from_json(json.loads(path.read_text(encoding="utf-8")))
    except (OSError, ValueError, KeyError, TypeError) as e:
        logger.warning("wall file %s unreadable (%s); using the default wall", path, e)
        return None


# -- the room's walls: several named walls, edited by supervisors --------------------------------
BOOK_VERSION = 2


class WallsError(ValueError):
    pass


class WallsUnreadable(OSError):
    """The walls file exists but could not be read: nothing may be written over it."""


class WallBook:
    """The walls of a room by name (each a set of screens with layouts and cycles).

    A workstation runs one of them (``running``, the wall its ``--wall`` screens form); the
    others are kept for the workstations that run them. Every edit is saved at once
    (atomically) and announced.

    Thread: GUI thread.

    Events:
        changed(): any wall changed.
        edited(str, dict): a supervisor's edit, for the audit log: the operation and what.
    """

    def __init__(self, path: Path, walls: Sequence[Wall] = (), running: str = "") -> None:
        self.path = path
        self._walls: dict[str, Wall] = {w.name: w for w in walls}
        # Rows this version cannot read (a newer version's, or damaged): written back as they
        # were, so that saving the running wall never drops another workstation's wall.
        self._foreign: list[Any] = []
        # Why the file could not be read (an I/O error): no write may replace it then.
        self.unreadable: str | None = None
        self.running = running
        self.changed: Signal[[]] = Signal()
        self.edited: Signal[[str, dict[str, Any]]] = Signal()

    # -- reading ------------------------------------------------------------------------------
    @classmethod
    def load(cls, path: Path) -> WallBook:
        """The saved walls; a version-1 file (one wall) is read as a book of one."""
        book = cls(path)
        if not path.exists():
            return book
        try:
            text = path.read_text(encoding="utf-8")
        except OSError as e:
            # The share is down, say: the file may be fine. Start without walls, and write
            # nothing over it (the running wall is not saved until a restart reads it).
            logger.error("wall file %s cannot be read (%s); it will not be written", path, e)
            book.unreadable = str(e)
            return book
        try:
            data = json.loads(text)
            rows = data.get("walls", [data]) if isinstance(data, dict) else None
            if not isinstance(rows, list):
                raise ValueError("not a walls file (no list of walls)")
        except ValueError as e:
            # Damaged as a whole: kept aside (never deleted), as the saved wall state is.
            aside = keep_aside(path)
            logger.warning("wall file %s is unreadable (%s); kept as %s", path, e, aside)
            if aside is None:
                book.unreadable = f"{e}; and it could not be moved aside"
            return book
        for i, row in enumerate(rows):
            try:
                wall = wall_from_json(row)
            except (ValueError, KeyError, TypeError, AttributeError) as e:
                logger.warning("%s: walls[%d] kept but not used: %s", path, i, e)
                book._foreign.append(row)
                continue
            book._walls[wall.name] = wall
        return book

    def names(self) -> list[str]:
        return list(self._walls)

    def get(self, name: str) -> Wall:
        try:
            return self._walls[name]
        except KeyError:
            raise WallsError(f"no wall named {name!r}") from None

    def __contains__(self, name: object) -> bool:
        return name in self._walls

    # -- writing ------------------------------------------------------------------------------
    def save(self) -> None:
        if self.unreadable is not None:
            raise WallsUnreadable(
                f"the walls file {self.path} could not be read ({self.unreadable}); not "
                "overwritten, so that no wall is lost: restart once it can be read"
            )
        rows = [wall_to_json(w) for w in self._walls.values()] + self._foreign
        atomic_write(self.path, json.dumps({"version": BOOK_VERSION, "walls": rows}, indent=1))

    def _commit(self, walls: dict[str, Wall], op: str | None, details: dict[str, Any]) -> None:
        if walls == self._walls:
            return
        old = self._walls
        self._walls = walls
        try:
            self.save()
        except OSError:
            self._walls = old  # not saved: not changed
            raise
        self.changed.emit()
        if op is not None:
            self.edited.emit(op, details)

    def put(self, wall: Wall) -> None:
        """Store ``wall`` as it is now (the running wall after a push): saved, not audited
        here (pushes and layout switches have audit entries of their own)."""
        self._commit({**self._walls, wall.name: wall}, None, {})

    def _check_name(self, name: str) -> str:
        name = name.strip()
        if not name:
            raise WallsError("a wall needs a name")
        if name in self._walls:
            raise WallsError(f"a wall named {name!r} already exists")
        return name

    def create(self, name: str, screens: Sequence[str], layout: str = "2x2") -> Wall:
        clean = self._check_name(name)
        if not screens:
            raise WallsError("a wall needs at least one screen")
        wall = Wall(clean, tuple(WallScreen(s, layout) for s in screens))
        self._commit(
            {**self._walls, clean: wall}, "create", {"wall": clean, "screens": list(screens)}
        )
        return wall

    def rename(self, name: str, new_name: str) -> Wall:
        old = self.get(name)
        clean = self._check_name(new_name)
        wall = replace(old, name=clean)
        walls = {
            (clean if k == name else k): (wall if k == name else v) for k, v in self._walls.items()
        }
        if self.running == name:
            self.running = clean
        self._commit(walls, "rename", {"from": name, "to": clean})
        return wall

    def delete(self, name: str) -> None:
        self.get(name)
        if name == self.running:
            raise WallsError(f"wall {name!r} is shown by this workstation; it cannot be deleted")
        self._commit({k: v for k, v in self._walls.items() if k != name}, "delete", {"wall": name})

    def set_layout(self, name: str, slot: int, layout: str) -> Wall:
        wall = self.get(name).with_layout(slot, layout)
        details = {"wall": name, "screen": wall.screens[slot].screen, "layout": layout}
        self._commit({**self._walls, name: wall}, "screen.layout", details)
        return wall

    def set_cycle(self, name: str, slot: int, cycle: LayoutCycle | None) -> Wall:
        wall = self.get(name).with_cycle(slot, cycle)
        details: dict[str, Any] = {"wall": name, "screen": wall.screens[slot].screen}
        details["cycle"] = (
            {"layouts": list(cycle.layouts), "dwell_s": cycle.dwell_s} if cycle else None
        )
        self._commit({**self._walls, name: wall}, "screen.cycle", details)
        return wall
