"""Append-only audit log as JSON lines: who did what, when, from which workstation."""

from __future__ import annotations

import json
import logging
import os
import socket
import threading
import time
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from app.layouts.model import Layout
from app.layouts.store import WallModel

logger = logging.getLogger(__name__)

# The audited actions (the ``action`` field). Free text is allowed, these are the ones we write.
LAYOUT_SWITCH = "layout.switch"
LAYOUT_CHANGE = "layout.change"
LAYOUT_EDIT = "layout.edit"  # library: create, rename, duplicate, delete, save
WALL_PUSH = "wall.push"
WALL_EDIT = "wall.edit"
PTZ_TAKEOVER = "ptz.takeover"
EXPORT = "export"
SESSION_START = "session.start"
SESSION_END = "session.end"


@dataclass(frozen=True, slots=True)
class AuditEntry:
    """One line of the log."""

    time: str  # ISO 8601 with the UTC offset of the workstation
    user: str
    workstation: str
    action: str
    details: dict[str, Any] = field(default_factory=dict)

    def to_json(self) -> str:
        return json.dumps(
            {
                "time": self.time,
                "user": self.user,
                "workstation": self.workstation,
                "action": self.action,
                "details": self.details,
            },
            ensure_ascii=False,
            separators=(",", ":"),
            default=str,
        )


def _iso(t: float) -> str:
    lt = time.localtime(t)
    ms = int((t % 1) * 1000)
    return time.strftime("%Y-%m-%dT%H:%M:%S", lt) + f".{ms:03d}" + time.strftime("%z", lt)


iso_time = _iso  # the log's time format, for other records that must match it (exports)


class AuditLog:
    """Appends entries to a JSON-lines file; an entry is on disk when ``append`` returns.

    Each entry is one ``write`` of a whole line on a descriptor opened with O_APPEND, then
    ``fsync``: a crash leaves at most the last line torn, never an earlier one, and two
    processes appending to the same file do not interleave inside a line. Nothing is
    ever rewritten or truncated.

    Thread: any (a lock orders the appends of one process).
    """

    def __init__(
        self,
        path: Path,
        user: str,
        workstation: str | None = None,
        clock: Callable[[], float] = time.time,
        sync: bool = True,
    ) -> None:
        self.path = path
        self.user = user
        self.workstation = workstation or socket.gethostname()
        self._clock = clock
        self._sync = sync
        self._lock = threading.Lock()
        path.parent.mkdir(parents=True, exist_ok=True)
        self._fd = os.open(path, os.O_WRONLY | os.O_APPEND | os.O_CREAT, 0o640)
        self._seal_torn_tail()

    def _seal_torn_tail(self) -> None:
        # A previous run killed inside a write may have left a line without its newline;
        # the next entry must not be glued onto it, so it gets a line of its own.
        try:
            with open(self.path, "rb") as fh:
                fh.seek(0, os.SEEK_END)
                if fh.tell() == 0:
                    return
                fh.seek(-1, os.SEEK_END)
                last = fh.read(1)
        except OSError:
            return
        if last != b"\n":
            logger.warning("audit log %s ends with a torn line; sealing it", self.path)
            os.write(self._fd, b"\n")

    def append(self, action: str, **details: Any) -> AuditEntry:
        entry = AuditEntry(_iso(self._clock()), self.user, self.workstation, action, details)
        data = (entry.to_json() + "\n").encode("utf-8")
        with self._lock:
            written = os.write(self._fd, data)
            if written != len(data):  # a full disk: say so, the caller decides
                raise OSError(f"audit log {self.path}: short write ({written}/{len(data)})")
            if self._sync:
                os.fsync(self._fd)
        return entry

    def close(self) -> None:
        with self._lock:
            if self._fd >= 0:
                os.close(self._fd)
                self._fd = -1

    def __enter__(self) -> AuditLog:
        return self

    def __exit__(self, *_: object) -> None:
        self.close()


@dataclass(frozen=True, slots=True)
class AuditRead:
    """What ``read_audit`` found: the good entries and the line numbers of broken ones."""

    entries: list[dict[str, Any]]
    bad_lines: list[int]  # 1-based
    torn_tail: bool  # the last line has no newline (a write cut short)


def read_audit(path: Path) -> AuditRead:
    """Every readable entry; a torn or garbled line is skipped and reported, never fatal."""
    entries: list[dict[str, Any]] = []
    bad: list[int] = []
    try:
        raw = path.read_bytes()
    except FileNotFoundError:
        return AuditRead([], [], False)
    torn = bool(raw) and not raw.endswith(b"\n")
    for n, line in enumerate(raw.split(b"\n"), start=1):
        if not line.strip():
            continue
        try:
            value = json.loads(line.decode("utf-8"))
        except (UnicodeDecodeError, ValueError):
            bad.append(n)
            continue
        if isinstance(value, dict) and "action" in value:
            entries.append(value)
        else:
            bad.append(n)
    if bad:
        logger.warning("audit log %s: skipped unreadable lines %s", path, bad)
    return AuditRead(entries, bad, torn)


def layout_change(
    before_name: str, before: Layout | None, after_name: str, after: Layout
) -> tuple[str, dict[str, Any]] | None:
    """The audit entry for a WallModel change, or None when it is not worth one.

    Focus moves and maximise/restore are viewing, not changes of what the wall shows.
    """
    if before is None or before_name != after_name:
        return LAYOUT_SWITCH, {"from": before_name, "to": after_name}
    details: dict[str, Any] = {"layout": after_name}
    if before.spec != after.spec:
        details["grid"] = {"from": _grid(before), "to": _grid(after)}
    tiles = _tile_changes(before, after)
    if tiles:
        details["tiles"] = tiles
    if len(details) == 1:
        return None
    return LAYOUT_CHANGE, details


def _grid(layout: Layout) -> str:
    return f"{layout.spec.name} {layout.spec.rows}x{layout.spec.cols}/{layout.spec.size}"


def _tile_changes(before: Layout, after: Layout) -> list[dict[str, Any]]:
    out = []
    n = max(len(before.tiles), len(after.tiles))
    for i in range(n):
        b = before.tiles[i] if i < len(before.tiles) else None
        a = after.tiles[i] if i < len(after.tiles) else None
        if b != a:
            out.append({"tile": i, "from": _tile(b), "to": _tile(a)})
    return out


def _tile(tile: object) -> str | None:
    cam = getattr(tile, "camera_id", None)
    optic = getattr(tile, "optic", None)
    if cam is None:
        return None
    return cam if optic is None else f"{cam}#{optic + 1}"


class LayoutAuditor:
    """Writes an audit entry for every change of a WallModel worth one (see layout_change).

    Connect it in the composition root so that views never call the audit log.
    """

    def __init__(
        self,
        log: AuditLog,
        model: WallModel,
        where: str = "main",
        skip: Callable[[], bool] = lambda: False,
    ) -> None:
        self._skip = skip  # True while a change is nobody's action (a sequence stepping)
        self._log = log
        self._model = model
        self._where = where
        self._name = model.current
        self._layout: Layout | None = model.layout
        model.changed.connect(self._on_changed)

    def _on_changed(self, layout: Layout) -> None:
        found = layout_change(self._name, self._layout, self._model.current, layout)
        self._name, self._layout = self._model.current, layout
        if found is None or self._skip():
            return
        action, details = found
        try:
            self._log.append(action, screen=self._where, **details)
        except OSError as e:  # the wall must keep working; the failure itself is logged
            logger.error("cannot write the audit log %s: %s", self._log.path, e)


class TakeoverTracker:
    """Turns a stream of manual PTZ inputs into take-overs: the first input on a camera
    after ``idle_s`` without any is one (the later ones are the same take-over going on)."""

    def __init__(self, idle_s: float = 5.0, clock: Callable[[], float] = time.monotonic) -> None:
        self.idle_s = idle_s
        self._clock = clock
        self._last: dict[str, float] = {}

    def input(self, camera_id: str) -> bool:
        now = self._clock()
        last = self._last.get(camera_id)
        self._last[camera_id] = now
        return last is None or now - last > self.idle_s


def actions(entries: Iterable[dict[str, Any]]) -> list[str]:
    return [str(e.get("action")) for e in entries]
