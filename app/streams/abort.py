"""Abort FFmpeg I/O on chosen threads, so a stopped worker leaves a blocked open or read at once.

PyAV has no call to interrupt a blocked ``av.open`` or ``demux``: FFmpeg polls the container's
interrupt callback every ~100 ms while it waits on a socket, but PyAV's callback only compares
``time.monotonic()`` with the guard PyAV arms around each call: the open timeout around
``avformat_open_input``, the read timeout around each ``av_read_frame``. With no guard for a
call (timeout ``None``) the callback returns "go on" without looking at any clock. A worker
stuck on a camera that went silent (before or after its first picture) would otherwise hold the
application's exit for FFmpeg's whole socket timeout.

Opens: we replace the ``time`` module that PyAV's callback sees with a proxy whose ``monotonic()``
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

Reads: workers open with no read guard (a guard costs the GIL on every socket read, see
``read_aborter``), and ``stop()`` arms the guard of the blocked read itself.
"""

from __future__ import annotations

import ctypes
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


# -- reads: arm the guard of one blocked read, from another thread ---------------------------
#
# A read guard given to ``av.open`` makes PyAV's interrupt callback take the GIL and read the
# clock on *every* interrupt check of every socket read (FFmpeg checks several times per RTP
# packet). Measured on the 8x8 benchmark wall (64 streams): the decode threads then cost so
# much that the load policy kept 59 tiles on key frames instead of 48, and the display clock's
# p99 lateness rose from 39 to 72 ms. So workers open without a read guard, and ``stop()``
# arms the guard of the one read that is blocked, by writing its timeout into PyAV's
# ``timeout_info`` (a C struct inside the Container object): from that moment the callback
# compares the clock with a zero timeout and FFmpeg returns ``AVERROR_EXIT`` at its next poll.
# PyAV has no API for this. The struct's place is found from the layout PyAV declares
# (``open_timeout`` and ``read_timeout`` object pointers, then ``interrupt_callback_info``
# at most a few fields later: right after them in PyAV 18, after ``hwaccel`` in PyAV 19),
# verified on every container against ``id()`` of those two attributes, a start time from
# the monotonic clock and the -1.0 that "no guard" stores; where anything differs, no byte is
# written and a blocked read ends by FFmpeg's socket timeout, as without this module.

_STRUCT_SIZE = 16  # timeout_info: double start_time, double timeout
_SEARCH_AFTER = 32  # bytes after read_timeout where the struct may start (PyAV 19: one field)
# Per Container type: (offset of the open_timeout/read_timeout pointer pair, offset of the
# struct), or None where they were not found exactly once.
_guard_offsets: dict[type, tuple[int, int] | None] = {}


def _pointer_at(address: int) -> int:
    return ctypes.c_void_p.from_address(address).value or 0


def _double_at(address: int) -> float:
    return float(ctypes.c_double.from_address(address).value)


def _plausible_struct(address: int) -> bool:
    """An unarmed ``timeout_info``: a start time read from the monotonic clock, timeout -1.0.

    An object pointer read as a double is a denormal (< 1e-300), never a clock reading.
    """
    start = _double_at(address)
    return 1e-3 <= start <= time.monotonic() and _double_at(address + 8) == -1.0


def _find_guard_offsets(container: Any) -> tuple[int, int] | None:
    """Where ``open_timeout``/``read_timeout`` and then ``interrupt_callback_info`` lie in
    this Container type (PyAV 18 declares the struct right after them; PyAV 19 one field
    later), or None unless each is found exactly once."""
    base, size = id(container), type(container).__basicsize__
    want = (id(container.open_timeout), id(container.read_timeout))
    pairs = [
        off
        for off in range(16, size - 16 + 1, 8)
        if _pointer_at(base + off) == want[0] and _pointer_at(base + off + 8) == want[1]
    ]
    if len(pairs) != 1:
        return None
    after = pairs[0] + 16
    structs = [
        off
        for off in range(after, min(after + _SEARCH_AFTER, size - _STRUCT_SIZE) + 1, 8)
        if _plausible_struct(base + off)
    ]
    return (pairs[0], structs[0]) if len(structs) == 1 else None


def read_aborter(container: Any) -> Callable[[], None] | None:
    """A function that makes a read blocked in ``container`` (opened with no read guard)
    return at FFmpeg's next interrupt check; None where PyAV's layout is not the expected one.

    Call it from any thread; it keeps the container object alive. Call it only for a worker
    that is stopping: any later read of that container is aborted too.
    """
    if getattr(container, "read_timeout", 0) is not None or container.open_timeout is None:
        return None  # a read guard of its own, or no interrupt callback at all
    cls = type(container)
    if cls not in _guard_offsets:
        _guard_offsets[cls] = _find_guard_offsets(container)
        if _guard_offsets[cls] is None:
            logger.warning("PyAV's read guard not found; a frozen read stops by timeout only")
    offsets = _guard_offsets[cls]
    if offsets is None:
        return None
    pair, struct = offsets
    base = id(container)
    if (
        _pointer_at(base + pair) != id(container.open_timeout)
        or _pointer_at(base + pair + 8) != id(container.read_timeout)
        or not _plausible_struct(base + struct)
    ):
        return None
    return _ReadAborter(container, ctypes.c_double.from_address(base + struct + 8))


class _ReadAborter:
    """``read_aborter``'s result: holds the container, so its struct outlives any call."""

    def __init__(self, container: Any, timeout: ctypes.c_double) -> None:
        self._container = container
        self._timeout = timeout

    def __call__(self) -> None:
        self._timeout.value = 0.0  # one aligned 8-byte store: atomic where CPython runs
