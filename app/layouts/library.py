"""Saved named layouts in a per-site file shared by every workstation of a room.

The file is written atomically (temp, fsync, rename) and re-read whenever its mtime, size or
inode changed, so a layout saved on one workstation shows up on the others. Each modification
re-reads first and writes at once, which keeps the window for two workstations overwriting
each other to the few milliseconds between read and rename.
"""

from __future__ import annotations

import contextlib
import json
import logging
import os
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any

from app.events import Signal
from app.layouts.model import BUILTIN_LAYOUTS, Layout
from app.layouts.store import atomic_write, layout_from_json, layout_to_json
from app.sequences import CameraCycle

logger = logging.getLogger(__name__)
LIBRARY_VERSION = 1


class LibraryError(ValueError):
    pass


@dataclass(frozen=True, slots=True)
class SavedLayout:
    """A named layout (grid + cameras) with its recall number and per-tile camera cycles."""

    number: int
    name: str
    layout: Layout
    cycles: Mapping[int, CameraCycle] = field(default_factory=dict)


def _grid(layout: Layout) -> str:
    spec = layout.spec
    cells = " ".join(f"{c.row},{c.col}:{c.rows}x{c.cols}" for c in spec.cells)
    return f"{spec.rows}x{spec.cols} [{cells}]"


def library_path_for(site_file: Path | None, site_slug: str, fallback_dir: Path) -> Path:
    """``<site dir>/<site>.layouts.json`` beside a site file, else in ``fallback_dir``."""
    if site_file is not None:
        return site_file.with_name(f"{site_file.stem}.layouts.json")
    return fallback_dir / f"{site_slug}.layouts.json"


def _entry_to_json(e: SavedLayout) -> dict[str, Any]:
    out = {"number": e.number, "name": e.name, "layout": layout_to_json(e.layout)}
    if e.cycles:
        out["cycles"] = {
            str(i): {"cameras": list(c.cameras), "dwell_s": c.dwell_s} for i, c in e.cycles.items()
        }
    return out


def _entry_from_json(data: dict[str, Any]) -> SavedLayout:
    name = str(data["name"])
    layout = replace(layout_from_json(data["layout"]), name=name, maximized=None)
    cycles = {
        int(k): CameraCycle(tuple(str(c) for c in v["cameras"]), float(v.get("dwell_s", 10.0)))
        for k, v in dict(data.get("cycles", {})).items()
    }
    return SavedLayout(int(data["number"]), name, layout, cycles)


class LayoutLibrary:
    """The site's saved layouts, numbered 1..N for keyboard recall.

    Thread: GUI thread (file I/O is small and local or on a LAN share).

    Events:
        changed(): the list changed, here or on another workstation (seen by ``refresh``).
        edited(str, dict): this workstation changed it: the operation and what (for audit).
    """

    def __init__(self, path: Path, stat: Callable[[Path], os.stat_result] = os.stat) -> None:
        self.path = path
        self._stat = stat
        self._entries: list[SavedLayout] = []
        # Rows this version cannot read (a newer version's, or damaged): written back as they
        # were, so that a save here never drops a layout another workstation made.
        self._foreign: list[Any] = []
        self._stamp: tuple[int, int, int] | None = None
        # Why the file could not be read, while it cannot: no write may replace it then.
        self.unreadable: str | None = None
        self.changed: Signal[[]] = Signal()
        self.edited: Signal[[str, dict[str, Any]]] = Signal()
        self.refresh()

    # -- reading ------------------------------------------------------------------------------
    def _file_stamp(self) -> tuple[int, int, int] | None:
        try:
            st = self._stat(self.path)
        except FileNotFoundError:
            return None
        return (st.st_mtime_ns, st.st_size, st.st_ino)

    def refresh(self) -> bool:
        """Re-read the file if it changed since we last read or wrote it; True if it did."""
        stamp = self._file_stamp()
        if stamp == self._stamp and self.unreadable is None:
            return False
        if stamp is None:
            entries: list[SavedLayout] = []
            self._foreign = []
        else:
            read = self._read()
            if read is None:
                # Not recorded as read: the next refresh tries again, and until one succeeds
                # the last good list is shown and nothing is written over the file.
                return False
            entries, self._foreign = read
        self._stamp = stamp
        self.unreadable = None
        if entries == self._entries:
            return False
        self._entries = entries
        self.changed.emit()
        return True

    def _read(self) -> tuple[list[SavedLayout], list[Any]] | None:
        """(layouts, rows this version cannot read), or None when the file is unreadable."""
        try:
            data = json.loads(self.path.read_text(encoding="utf-8"))
            if not isinstance(data, dict) or not isinstance(data.get("layouts", []), list):
                raise ValueError("not a layout library (no list of layouts)")
        except (OSError, ValueError) as e:
            # Keep what we had: a half-copied file on a share must not empty every wall.
            if self.unreadable is None:
                logger.warning(
                    "layout library %s unreadable (%s); keeping the last good list", self.path, e
                )
            self.unreadable = str(e)
            return None
        out: list[SavedLayout] = []
        foreign: list[Any] = []
        for i, row in enumerate(data.get("layouts", [])):
            try:
                out.append(_entry_from_json(row))
            except (KeyError, TypeError, ValueError, AttributeError) as e:
                logger.warning("%s: layouts[%d] kept but not shown: %s", self.path, i, e)
                foreign.append(row)
        return sorted(out, key=lambda e: e.number), foreign

    def entries(self) -> list[SavedLayout]:
        self.refresh()
        return list(self._entries)

    def get(self, name: str) -> SavedLayout | None:
        return next((e for e in self.entries() if e.name == name), None)

    def by_number(self, number: int) -> SavedLayout | None:
        return next((e for e in self.entries() if e.number == number), None)

    # -- writing ------------------------------------------------------------------------------
    def _modify(self, change: Callable[[list[SavedLayout]], list[SavedLayout]]) -> None:
        self.refresh()
        if self.unreadable is not None:
            raise LibraryError(
                f"the saved layouts ({self.path}) cannot be read right now ({self.unreadable}); "
                "nothing was changed, so that no layout is lost: try again"
            )
        entries = sorted(change(list(self._entries)), key=lambda e: e.number)
        rows = [_entry_to_json(e) for e in entries] + self._foreign
        text = json.dumps({"version": LIBRARY_VERSION, "layouts": rows}, indent=1)
        try:
            atomic_write(self.path, text)
        except OSError as e:  # the share is down, the disk full: say so, change nothing
            raise LibraryError(f"cannot save the layouts to {self.path}: {e}") from e
        self._entries = entries
        self._stamp = self._file_stamp()
        self.changed.emit()

    def _check_name(self, entries: list[SavedLayout], name: str, allow: str | None = None) -> str:
        name = name.strip()
        if not name:
            raise LibraryError("a layout needs a name")
        if name in BUILTIN_LAYOUTS:
            raise LibraryError(f"{name!r} is a built-in layout name")
        if name != allow and any(e.name == name for e in entries):
            raise LibraryError(f"a layout named {name!r} already exists")
        return name

    def _free_number(self, entries: list[SavedLayout]) -> int:
        used = {e.number for e in entries}
        for row in self._foreign:  # their numbers stay theirs
            with contextlib.suppress(AttributeError, TypeError, ValueError):
                used.add(int(row.get("number")))
        return next(n for n in range(1, len(used) + 2) if n not in used)

    def save(
        self, name: str, layout: Layout, cycles: Mapping[int, CameraCycle] | None = None
    ) -> SavedLayout:
        """Add a layout, or replace the one of that name (keeping its number)."""
        result: list[SavedLayout] = []

        def change(entries: list[SavedLayout]) -> list[SavedLayout]:
            old = next((e for e in entries if e.name == name.strip()), None)
            clean = self._check_name(entries, name, allow=old.name if old else None)
            kept = dict(old.cycles) if old and cycles is None else dict(cycles or {})
            lay = replace(layout, name=clean, maximized=None)
            kept = {i: c for i, c in kept.items() if 0 <= i < lay.spec.size}
            number = old.number if old else self._free_number(entries)
            entry = SavedLayout(number, clean, lay, kept)
            result.append(entry)
            return [e for e in entries if e is not old] + [entry]

        self._modify(change)
        e = result[0]
        self.edited.emit("save", {"name": e.name, "number": e.number, "grid": _grid(e.layout)})
        return e

    def rename(self, name: str, new_name: str) -> SavedLayout:
        result: list[SavedLayout] = []

        def change(entries: list[SavedLayout]) -> list[SavedLayout]:
            old = self._find(entries, name)
            clean = self._check_name(entries, new_name, allow=name)
            entry = replace(old, name=clean, layout=replace(old.layout, name=clean))
            result.append(entry)
            return [entry if e is old else e for e in entries]

        self._modify(change)
        self.edited.emit("rename", {"from": name, "to": result[0].name})
        return result[0]

    def duplicate(self, name: str, new_name: str) -> SavedLayout:
        result: list[SavedLayout] = []

        def change(entries: list[SavedLayout]) -> list[SavedLayout]:
            old = self._find(entries, name)
            clean = self._check_name(entries, new_name)
            entry = SavedLayout(
                self._free_number(entries),
                clean,
                replace(old.layout, name=clean),
                dict(old.cycles),
            )
            result.append(entry)
            return [*entries, entry]

        self._modify(change)
        self.edited.emit("duplicate", {"from": name, "to": result[0].name})
        return result[0]

    def delete(self, name: str) -> None:
        def change(entries: list[SavedLayout]) -> list[SavedLayout]:
            old = self._find(entries, name)
            return [e for e in entries if e is not old]

        self._modify(change)
        self.edited.emit("delete", {"name": name})

    def set_cycle(self, name: str, index: int, cycle: CameraCycle | None) -> SavedLayout:
        """Give tile ``index`` (0-based) of a saved layout a camera cycle, or take it away."""
        result: list[SavedLayout] = []

        def change(entries: list[SavedLayout]) -> list[SavedLayout]:
            old = self._find(entries, name)
            if not 0 <= index < old.layout.spec.size:
                raise LibraryError(f"layout {name!r} has no tile {index + 1}")
            cycles = {i: c for i, c in old.cycles.items() if i != index}
            if cycle is not None:
                cycles[index] = cycle
            entry = replace(old, cycles=cycles)
            result.append(entry)
            return [entry if e is old else e for e in entries]

        self._modify(change)
        details: dict[str, Any] = {"name": name, "tile": index + 1}
        details["cycle"] = (
            {"cameras": list(cycle.cameras), "dwell_s": cycle.dwell_s} if cycle else None
        )
        self.edited.emit("cycle", details)
        return result[0]

    def set_number(self, name: str, number: int) -> None:
        """Give a layout a recall number; the layout that had it swaps numbers with it."""
        if number < 1:
            raise LibraryError("layout numbers start at 1")

        def change(entries: list[SavedLayout]) -> list[SavedLayout]:
            mine = self._find(entries, name)
            out = []
            for e in entries:
                if e is mine:
                    out.append(replace(e, number=number))
                elif e.number == number:
                    out.append(replace(e, number=mine.number))
                else:
                    out.append(e)
            return out

        self._modify(change)
        self.edited.emit("number", {"name": name, "number": number})

    @staticmethod
    def _find(entries: list[SavedLayout], name: str) -> SavedLayout:
        for e in entries:
            if e.name == name:
                return e
        raise LibraryError(f"no saved layout named {name!r}")


class NumberEntry:
    """A layout number typed on the number pad, then Enter (as on a CCTV keyboard).

    Digits older than ``timeout_s`` are forgotten, so a stray key press does not linger.
    """

    def __init__(self, clock: Callable[[], float], timeout_s: float = 3.0) -> None:
        self._clock = clock
        self.timeout_s = timeout_s
        self._digits = ""
        self._last = 0.0

    @property
    def pending(self) -> str:
        if self._digits and self._clock() - self._last > self.timeout_s:
            self._digits = ""
        return self._digits

    def digit(self, d: int) -> str:
        self._digits = (self.pending + str(d))[-4:]
        self._last = self._clock()
        return self._digits

    def enter(self) -> int | None:
        """The number typed, or None when nothing is pending (Enter then means its usual)."""
        text = self.pending
        self._digits = ""
        return int(text) if text else None

    def cancel(self) -> None:
        self._digits = ""
