"""Abort FFmpeg I/O on chosen threads, so a stopped worker leaves a blocked open or read at once.

PyAV has no call to interrupt a blocked ``av.open`` or ``demux``: FFmpeg polls the container's
interrupt callback every ~100 ms while it waits on a socket, but PyAV's callback only compares
``time.monotonic()`` with the guard PyAV arms around each call: the open timeout around
``avformat_open_input``, the read timeout around each ``av_read_frame``. With no guard for a
call (timeout ``None``) the callback returns "go on" without looking at any clock, so a worker
must give ``av.open`` both an open and a read timeout (the read one may be huge) for this module
to reach a blocked read. A worker stuck on a camera that went silent (before or after its first
picture) would otherwise hold the application's exit for FFmpeg's whole socket timeout.

We replace the ``time`` module that PyAV's callback sees with a proxy whose ``monotonic()``
leaps ahead (by a growing amount on every call) on threads marked for abort: the callback then
finds its guard expired and FFmpeg returns ``AVERROR_EXIT`` (``av.error.ExitError``) at its next
poll. Other threads and every other ``time`` function are untouched, and an unmarked thread's
errors are FFmpeg's own: arming the read guard does not change how socket timeouts are reported
(measured: a frozen read still ends in ``TimeoutError``; an RTSP open on a silent camera ends in
``InvalidDataError`` with or without a read guard, which is why ``classify_error`` also looks at
how long the call took). A mark belongs to one ``Thread`` object, not to its ident, which the OS
reuses: a late mark for a finished thread can never abort a new one. If a PyAV release moves its
clock, ``install`` returns False and stopping falls back to FFmpeg's socket timeout (the worker
is a daemon).
"""

from __future__ import annotations

import logging
import threading
import time
import types
from collections.abc import Callable
from typing import Any

logger = logging.getLogger(__name__)

# Far beyond any container timeout, so one leap always expires it.
_LEAP = 1e9

_lock = threading.Lock()
# thread ident -> (the marked thread, leaps taken so far)
_aborting: dict[int, tuple[threading.Thread, int]] = {}
_installed = False


class _AbortClock(types.ModuleType):
    """Stands in for the ``time`` module inside ``av.container.core``.

    While no thread is marked, ``monotonic`` is the builtin itself: PyAV's interrupt callback
    runs for every socket read of every stream (with the GIL), so it must cost no Python frame.
    Only while some thread is marked is it the leaping function below.
    """

    def __init__(self) -> None:
        super().__init__("time")
        self.monotonic: Callable[[], float] = time.monotonic

    def __getattr__(self, name: str) -> Any:
        return getattr(time, name)


def _leaping_monotonic() -> float:
    now = time.monotonic()
    ident = threading.get_ident()
    if ident not in _aborting:  # another thread, while some are being aborted
        return now
    current = threading.current_thread()
    with _lock:
        entry = _aborting.get(ident)
        if entry is None or entry[0] is not current:  # gone, or a stale ident
            return now
        # Growing leaps: PyAV stamps a read's start with this clock too, so each later
        # reading must still be far past the previous one.
        leaps = entry[1] + 1
        _aborting[ident] = (current, leaps)
    return now + leaps * _LEAP


_clock = _AbortClock()


def _update_clock() -> None:
    """Lock held: the leaping clock only while some thread is marked."""
    _clock.monotonic = _leaping_monotonic if _aborting else time.monotonic


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
    core.time = _clock  # type: ignore[attr-defined]
    _installed = True
    return True


def abort(thread: threading.Thread) -> None:
    """Make guarded FFmpeg calls on that thread return at their next interrupt check."""
    ident = thread.ident
    if ident is None or not thread.is_alive():
        return
    with _lock:
        # Drop marks of threads that finished before they could clear them (a stop racing
        # the thread's exit), so the table stays as small as the set of stopping workers.
        for other, (marked, _leaps) in list(_aborting.items()):
            if not marked.is_alive():
                del _aborting[other]
        entry = _aborting.get(ident)
        if entry is None or entry[0] is not thread:
            _aborting[ident] = (thread, 0)
        _update_clock()


def clear(thread: threading.Thread) -> None:
    """The thread is done: drop its mark (a mark of another thread with that ident stays)."""
    ident = thread.ident
    if ident is None:
        return
    with _lock:
        entry = _aborting.get(ident)
        if entry is not None and entry[0] is thread:
            del _aborting[ident]
        _update_clock()
