"""Sequences: a tile cycling through cameras, a screen cycling through layouts (injected clock).

Operator interaction pauses every cycle of the screen; they resume after an idle time, each
showing its current item for one more full dwell before stepping on.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Hashable
from dataclasses import dataclass

DEFAULT_RESUME_AFTER_S = 30.0
MIN_DWELL_S = 1.0  # a stream needs about a second to show its first picture


@dataclass(frozen=True, slots=True)
class CameraCycle:
    """A tile's camera tour."""

    cameras: tuple[str, ...]
    dwell_s: float = 10.0

    def __post_init__(self) -> None:
        _validate(self.cameras, self.dwell_s)


@dataclass(frozen=True, slots=True)
class LayoutCycle:
    """A screen's layout tour (names of layouts)."""

    layouts: tuple[str, ...]
    dwell_s: float = 30.0

    def __post_init__(self) -> None:
        _validate(self.layouts, self.dwell_s)


def _validate(items: tuple[str, ...], dwell_s: float) -> None:
    if not items:
        raise ValueError("a cycle needs at least one item")
    if not dwell_s >= MIN_DWELL_S:
        raise ValueError(f"dwell time {dwell_s} s is below {MIN_DWELL_S} s")


class Cycler:
    """Which item of a list is shown, stepping every ``dwell_s`` on ``clock``.

    ``poll`` is called by a timer; it never skips items when called late (one step per
    call, the dwell restarting then), so a stalled GUI does not make the tour race.
    """

    def __init__(
        self,
        items: tuple[str, ...],
        dwell_s: float,
        clock: Callable[[], float] = time.monotonic,
        start: int = 0,
    ) -> None:
        _validate(items, dwell_s)
        self.items = items
        self.dwell_s = dwell_s
        self._clock = clock
        self.index = start % len(items)
        self._next_at = clock() + dwell_s
        self._paused_until: float | None = None

    @property
    def current(self) -> str:
        return self.items[self.index]

    @property
    def paused(self) -> bool:
        return self._paused_until is not None and self._clock() < self._paused_until

    def pause(self, until: float) -> None:
        self._paused_until = max(until, self._paused_until or until)

    def resume_now(self) -> None:
        self._paused_until = None
        self._next_at = self._clock() + self.dwell_s

    def poll(self) -> str | None:
        """The item to show now if the cycle stepped, else None."""
        now = self._clock()
        if self._paused_until is not None:
            if now < self._paused_until:
                return None
            # Resuming: the operator's current item gets a whole dwell before the tour goes on.
            self._next_at = self._paused_until + self.dwell_s
            self._paused_until = None
        if now < self._next_at or len(self.items) < 2:
            return None
        self.index = (self.index + 1) % len(self.items)
        self._next_at = max(self._next_at + self.dwell_s, now + self.dwell_s * 0.5)
        return self.current


@dataclass(frozen=True, slots=True)
class Step:
    """An order from the sequencer: show ``item`` on a tile (``kind`` "tile", ``key`` the tile
    key) or switch the screen's layout (``kind`` "layout")."""

    kind: str
    key: Hashable
    item: str


class Sequencer:
    """All the cycles of one screen: tile camera cycles and the screen's layout cycle.

    Interaction (``touch``) pauses all of them until ``resume_after_s`` without interaction.
    """

    def __init__(
        self,
        clock: Callable[[], float] = time.monotonic,
        resume_after_s: float = DEFAULT_RESUME_AFTER_S,
    ) -> None:
        self._clock = clock
        self.resume_after_s = resume_after_s
        self.tiles: dict[Hashable, Cycler] = {}
        self.layouts: Cycler | None = None
        self._layout_key: Hashable = "screen"

    def set_tile_cycle(self, key: Hashable, cycle: CameraCycle | None) -> None:
        old = self.tiles.get(key)
        if cycle is None:
            self.tiles.pop(key, None)
        elif old is None or old.items != cycle.cameras or old.dwell_s != cycle.dwell_s:
            self.tiles[key] = Cycler(cycle.cameras, cycle.dwell_s, self._clock)

    def clear_tiles(self) -> None:
        self.tiles.clear()

    def set_layout_cycle(self, cycle: LayoutCycle | None, key: Hashable = "screen") -> None:
        self._layout_key = key
        if cycle is None:
            self.layouts = None
        elif (
            self.layouts is None
            or self.layouts.items != cycle.layouts
            or self.layouts.dwell_s != cycle.dwell_s
        ):
            self.layouts = Cycler(cycle.layouts, cycle.dwell_s, self._clock)

    def touch(self) -> None:
        """The operator did something on this screen: hold every cycle where it is."""
        until = self._clock() + self.resume_after_s
        for c in self._all():
            c.pause(until)

    @property
    def paused(self) -> bool:
        return any(c.paused for c in self._all())

    def _all(self) -> list[Cycler]:
        return [*self.tiles.values(), *([self.layouts] if self.layouts else [])]

    def poll(self) -> list[Step]:
        steps: list[Step] = []
        if self.layouts is not None:
            item = self.layouts.poll()
            if item is not None:
                steps.append(Step("layout", self._layout_key, item))
        for key, cycler in self.tiles.items():
            item = cycler.poll()
            if item is not None:
                steps.append(Step("tile", key, item))
        return steps

    def current_camera(self, key: Hashable) -> str | None:
        c = self.tiles.get(key)
        return c.current if c else None
