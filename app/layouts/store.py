"""WallModel (the observable state of a window's wall) and its crash-safe JSON persistence."""

from __future__ import annotations

import contextlib
import json
import logging
import os
import socket
import threading
import time
from collections.abc import Callable, Sequence
from dataclasses import replace
from pathlib import Path
from typing import Any

from app.events import Signal
from app.layouts import ops
from app.layouts.model import BUILTIN_LAYOUTS, Cell, Layout, LayoutSpec, Tile, WallState

logger = logging.getLogger(__name__)
STATE_VERSION = 1


class WallModel:
    """The layouts of one wall window, the current one, and change notification.

    Each layout keeps its own camera assignment, so switching 4x4 → 2x2 → 4x4 gives
    back the same 16 cameras.

    Thread: GUI thread only.

    Events:
        changed(Layout): the current layout changed (content, focus or switch).
    """

    def __init__(self, state: WallState, camera_order: Sequence[str] = ()) -> None:
        self._camera_order = list(camera_order)
        self._layouts = dict(state.layouts)
        self._current = (
            state.current
            if state.current in BUILTIN_LAYOUTS or state.current in self._layouts
            else "2x2"
        )
        self.changed: Signal[[Layout]] = Signal()
        self._expanded: dict[str, tuple[Layout, Layout]] = {}
        self._ensure(self._current)

    def _ensure(self, name: str) -> Layout:
        if name not in self._layouts:
            self._layouts[name] = ops.new_layout(name, self._camera_order)
        return self._layouts[name]

    @property
    def layout(self) -> Layout:
        return self._layouts[self._current]

    @property
    def current(self) -> str:
        return self._current

    def set_layout(self, name: str) -> None:
        if name not in BUILTIN_LAYOUTS and name not in self._layouts:
            raise KeyError(f"unknown layout {name!r}; built-in: {', '.join(BUILTIN_LAYOUTS)}")
        self._current = name
        self._ensure(name)
        self.changed.emit(self.layout)

    def apply(self, op: Callable[[Layout], Layout]) -> None:
        """Replace the current layout by ``op(layout)`` and notify."""
        new = op(self.layout)
        if new == self.layout:
            return
        self._layouts[self._current] = new
        self.changed.emit(new)

    def expand(self, index: int, optics: int) -> None:
        """Expand a multi-optic camera into adjacent tiles, remembering what it displaced."""
        before = self.layout
        self.apply(lambda lay: ops.expand_device(lay, index, optics))
        if self.layout != before:
            self._expanded[self._current] = (before, self.layout)

    def collapse(self, index: int) -> None:
        """Undo ``expand``: exactly the previous layout if nothing changed since, else collapse."""
        saved = self._expanded.pop(self._current, None)
        if saved is not None and saved[1] == self.layout:
            restored = replace(saved[0], focused=saved[0].focused)
            self.apply(lambda _lay: restored)
        else:
            self.apply(lambda lay: ops.collapse_device(lay, index))

    def put_layout(self, name: str, layout: Layout, switch: bool = True) -> None:
        """Keep ``layout`` (any grid, e.g. a saved custom one) under ``name``; show it if
        ``switch``. Recalling a saved layout or a push to a wall screen come through here."""
        self._layouts[name] = layout
        self._expanded.pop(name, None)
        if switch:
            self._current = name
        if switch or name == self._current:
            self.changed.emit(self.layout)

    def forget_layout(self, name: str) -> None:
        """Drop a kept layout (deleted from the library); the current one stays."""
        if name != self._current:
            self._layouts.pop(name, None)

    def names(self) -> list[str]:
        return list(self._layouts)

    def fill(self, camera_ids: Sequence[str]) -> None:
        """Fill the current layout with cameras in order (for --layout runs)."""
        spec = self.layout.spec
        self.apply(lambda lay: replace(lay, tiles=ops.new_layout(spec, camera_ids).tiles))

    def state(self) -> WallState:
        return WallState(self._current, dict(self._layouts))


# -- persistence ------------------------------------------------------------------------------
def spec_to_json(spec: LayoutSpec) -> dict[str, Any]:
    """A custom grid: rows, cols and each tile as [row, col, rows, cols]."""
    return {
        "rows": spec.rows,
        "cols": spec.cols,
        "cells": [[c.row, c.col, c.rows, c.cols] for c in spec.cells],
    }


def spec_from_json(name: str, data: dict[str, Any]) -> LayoutSpec:
    cells = tuple(Cell(*(int(v) for v in cell)) for cell in data["cells"])
    return LayoutSpec(name, int(data["rows"]), int(data["cols"]), cells)


def _layout_to_json(layout: Layout) -> dict[str, Any]:
    out: dict[str, Any] = {
        "spec": layout.spec.name,
        "name": layout.name,
        "tiles": [{"camera": t.camera_id, "optic": t.optic} for t in layout.tiles],
        "focused": layout.focused,
        "maximized": layout.maximized,
    }
    if BUILTIN_LAYOUTS.get(layout.spec.name) != layout.spec:
        # A custom layout carries its grid; built-in ones stay a name (old files unchanged).
        out["grid"] = spec_to_json(layout.spec)
    return out


def _layout_from_json(data: dict[str, Any]) -> Layout:
    grid = data.get("grid")
    spec = (
        spec_from_json(str(data["spec"]), grid)
        if isinstance(grid, dict)
        else BUILTIN_LAYOUTS[data["spec"]]
    )
    tiles = tuple(Tile(t.get("camera"), t.get("optic")) for t in data.get("tiles", []))
    lay = Layout(spec, tiles, name=str(data.get("name", "")))
    focused = int(data.get("focused", 0))
    maximized = data.get("maximized")
    return replace(
        lay,
        focused=focused if 0 <= focused < spec.size else 0,
        maximized=maximized if isinstance(maximized, int) and 0 <= maximized < spec.size else None,
    )


# Public names for other stores of layouts (the shared layout library).
layout_to_json = _layout_to_json
layout_from_json = _layout_from_json


def state_to_json(state: WallState) -> dict[str, Any]:
    return {
        "version": STATE_VERSION,
        "current": state.current,
        "layouts": {k: _layout_to_json(v) for k, v in state.layouts.items()},
    }


def state_from_json(data: dict[str, Any]) -> WallState:
    layouts = {}
    for key, value in data.get("layouts", {}).items():
        try:
            layouts[key] = _layout_from_json(value)
        except (KeyError, TypeError, ValueError) as exc:
            logger.warning("skipping unreadable saved layout %r: %s", key, exc)
    return WallState(str(data.get("current", "2x2")), layouts)


def atomic_write(path: Path, text: str) -> None:
    """Write ``text`` so that a crash leaves either the old or the new file, never half."""
    path.parent.mkdir(parents=True, exist_ok=True)
    # Unique per writer: workstations share a library folder, and their pids may coincide.
    # (Not mkstemp: its 0600 file would lock the other workstations' users out after the
    # rename.)
    writer = f"{socket.gethostname()}.{os.getpid()}.{threading.get_ident()}"
    tmp = path.with_name(f".{path.name}.{writer}.tmp")
    try:
        with open(tmp, "w", encoding="utf-8") as fh:
            fh.write(text)
            fh.flush()
            os.fsync(fh.fileno())
        os.replace(tmp, path)
    except BaseException:
        with contextlib.suppress(OSError):
            tmp.unlink()
        raise


def keep_aside(path: Path) -> Path | None:
    """Rename an unreadable file to ``<name>.unreadable-<time>[-n]`` (never over another one);
    the new path, or None when it could not be moved (logged)."""
    stamp = time.strftime("%Y%m%d-%H%M%S")
    for n in range(100):
        aside = path.with_name(f"{path.name}.unreadable-{stamp}" + (f"-{n}" if n else ""))
        if aside.exists():
            continue
        try:
            path.rename(aside)
        except OSError as e:
            logger.error("cannot move the unreadable %s aside: %s", path, e)
            return None
        return aside
    return None


def save_wall_state(path: Path, state: WallState) -> None:
    atomic_write(path, json.dumps(state_to_json(state), indent=1))


def load_wall_state(path: Path) -> WallState:
    """The saved state, or a fresh one. An unreadable file is kept aside, never deleted."""
    if not path.exists():
        return WallState()
    try:
        return state_from_json(json.loads(path.read_text(encoding="utf-8")))
    except (OSError, ValueError, AttributeError) as exc:
        aside = keep_aside(path)
        logger.warning("saved wall state %s is unreadable (%s); kept as %s", path, exc, aside)
        return WallState()
