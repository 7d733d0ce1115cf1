"""Abort FFmpeg I/O on chosen threads, so a stopped worker leaves a blocked open or read at once.

PyAV has no call to interrupt a blocked ``av.open`` or ``demux``: FFmpeg polls the container's
interrupt callback every ~100 ms while it waits on a socket, but PyAV's callback only compares
``time.monotonic()`` with the container's timeout. A worker stuck on a camera that accepted the
TCP connection and then went silent would hold the application's exit for FFmpeg's whole socket
timeout. We replace the ``time`` module that PyAV's callback sees with a proxy whose
``monotonic()`` leaps ahead (by a growing amount on every call) on threads marked for abort:
the callback then finds its timeout expired and FFmpeg returns at its next poll. Other threads
and every other ``time`` function are untouched. If a PyAV release moves its clock, ``install``
returns False and stopping falls back to FFmpeg's socket timeout (the worker is a daemon).
"""

from __future__ import annotations

import logging
import threading
import time
import types
from typing import Any

logger = logging.getLogger(__name__)

# Far beyond any container timeout, so one leap always expires it.
_LEAP = 1e9

_lock = threading.Lock()
_aborting: dict[int, int] = {}  # thread ident -> leaps taken so far
_installed = False


class _AbortClock(types.ModuleType):
    """Stands in for the ``time`` module inside ``av.container.core``."""

    def __init__(self) -> None:
        super().__init__("time")

    def __getattr__(self, name: str) -> Any:
        return getattr(time, name)

    def monotonic(self) -> float:
        now = time.monotonic()
        ident = threading.get_ident()
        if ident not in _aborting:  # the common case: one dict lookup, no lock
            return now
        with _lock:
            leaps = _aborting.get(ident)
            if leaps is None:
                return now
            # Growing leaps: PyAV stamps a read's start with this clock too, so each later
            # reading must still be far past the previous one.
            leaps += 1
            _aborting[ident] = leaps
        return now + leaps * _LEAP


def install() -> bool:
    """Put the abort clock into PyAV (idempotent); False if this PyAV has no such hook."""
    global _installed
    if _installed:
        return True
    try:
        import av.container.core as core
    except ImportError:  # pragma: no cover - av is a hard dependency
        return False
    if getattr(core, "time", None) is not time:
        logger.warning("PyAV's container clock not found; blocked streams stop by timeout only")
        return False
    core.time = _AbortClock()  # type: ignore[attr-defined]
    _installed = True
    return True


def abort(thread_ident: int | None) -> None:
    """Make FFmpeg calls on that thread return at their next interrupt check."""
    if thread_ident is None:
        return
    with _lock:
        _aborting.setdefault(thread_ident, 0)


def clear(thread_ident: int | None) -> None:
    """The thread is done (or reused): its clock is normal again."""
    if thread_ident is None:
        return
    with _lock:
        _aborting.pop(thread_ident, None)
