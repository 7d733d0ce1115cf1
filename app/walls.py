"""Video walls: screens and the layout each shows, and where a screen's window goes when
its screen is unplugged (pure functions; the Qt windows are in ``widgets.walls``)."""

from __future__ import annotations

import json
import logging
from collections.abc import Sequence
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any

from app.layouts.store import atomic_write
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
