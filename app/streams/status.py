"""Stream and camera status: the explicit states an operator sees, and error classification."""

from __future__ import annotations

import enum
import errno
import re
import time
from collections.abc import Callable
from dataclasses import dataclass

from app.site.credentials import redact


class StreamState(enum.StrEnum):
    IDLE = "idle"  # nobody is watching; not connected
    CONNECTING = "connecting"
    LIVE = "live"
    STALLED = "stalled"  # connected, but no frame for a few seconds
    OFFLINE = "offline"  # with a reason: refused, timeout, unreachable, closed, not found
    UNAUTHORIZED = "unauthorized"
    UNSUPPORTED = "unsupported"  # codec or container we cannot decode
    ERROR = "error"


# States in which the picture on screen is not live and must not pass as such.
NOT_LIVE = frozenset(
    {
        StreamState.STALLED,
        StreamState.OFFLINE,
        StreamState.UNAUTHORIZED,
        StreamState.UNSUPPORTED,
        StreamState.ERROR,
    }
)


@dataclass(frozen=True, slots=True)
class StreamStatus:
    """A state with its reason and timing, as shown on a tile.

    ``since`` and ``next_retry_at`` are wall-clock times (time.time()) so that a
    view can print "offline since 14:02:11, next retry in 8 s".
    """

    state: StreamState
    reason: str = ""
    since: float = 0.0
    next_retry_at: float | None = None

    @classmethod
    def now(
        cls, state: StreamState, reason: str = "", next_retry_in: float | None = None
    ) -> StreamStatus:
        t = time.time()
        return cls(state, reason, t, None if next_retry_in is None else t + next_retry_in)

    @property
    def is_live(self) -> bool:
        return self.state == StreamState.LIVE


class CameraStatus(enum.StrEnum):
    """A camera's status summarised over its open streams and optics."""

    IDLE = "idle"
    CONNECTING = "connecting"
    LIVE = "live"
    DEGRADED = "degraded"  # a multi-optic device with some optics down
    STALLED = "stalled"
    OFFLINE = "offline"
    UNAUTHORIZED = "unauthorized"
    ERROR = "error"


def camera_status(states: list[StreamState]) -> CameraStatus:
    """Summarise the states of one camera's open streams (one per optic in view)."""
    active = [s for s in states if s != StreamState.IDLE]
    if not active:
        return CameraStatus.IDLE
    if all(s == StreamState.LIVE for s in active):
        return CameraStatus.LIVE
    if any(s == StreamState.LIVE for s in active):
        return CameraStatus.DEGRADED
    for state, summary in (
        (StreamState.UNAUTHORIZED, CameraStatus.UNAUTHORIZED),
        (StreamState.CONNECTING, CameraStatus.CONNECTING),
        (StreamState.STALLED, CameraStatus.STALLED),
        (StreamState.OFFLINE, CameraStatus.OFFLINE),
    ):
        if state in active:
            return summary
    return CameraStatus.ERROR


_URL_RE = re.compile(r"[A-Za-z][A-Za-z0-9+.-]*://[^\s'\"]+")
# HTTP status codes as whole numbers: not inside a port, an address or another number.
_AUTH_CODE = re.compile(r"(?<![\d.:])40[13](?![\d.])")
_NOT_FOUND_CODE = re.compile(r"(?<![\d.:])404(?![\d.])")


def classify_error(exc: BaseException, elapsed: float, timeout: float) -> StreamStatus:
    """Map an exception from opening or reading a stream to a status with a reason.

    ``elapsed`` is how long the failing call ran; FFmpeg reports some socket
    timeouts as generic I/O or invalid-data errors, so a failure that took about
    the configured timeout is reported as a timeout.
    """
    name = type(exc).__name__
    text = describe_error(exc)
    err = getattr(exc, "errno", None)
    # Matched against the message only, never the URL in it: a camera on port 8401 or 40357
    # is not "unauthorized", and a path with "404" in it is not "not found".
    message = _without_urls(exc)
    lowered = message.lower()
    if name in ("HTTPUnauthorizedError", "HTTPForbiddenError") or _AUTH_CODE.search(message):
        return StreamStatus.now(StreamState.UNAUTHORIZED, "wrong user name or password")
    if "unauthorized" in lowered:
        return StreamStatus.now(StreamState.UNAUTHORIZED, "wrong user name or password")
    if name in ("DecoderNotFoundError", "PatchWelcomeError") or "codec not" in lowered:
        return StreamStatus.now(StreamState.UNSUPPORTED, f"unsupported codec: {text}")
    if isinstance(exc, ConnectionRefusedError) or err == errno.ECONNREFUSED:
        return StreamStatus.now(StreamState.OFFLINE, "connection refused")
    if err in (errno.EHOSTUNREACH, errno.ENETUNREACH) or "unreachable" in lowered:
        return StreamStatus.now(StreamState.OFFLINE, "host unreachable")
    if name == "HTTPNotFoundError" or _NOT_FOUND_CODE.search(message) or "not found" in lowered:
        return StreamStatus.now(StreamState.OFFLINE, "stream not found on the device")
    if isinstance(exc, TimeoutError) or err == errno.ETIMEDOUT or elapsed >= timeout * 0.9:
        return StreamStatus.now(StreamState.OFFLINE, f"no answer within {timeout:g} s (timeout)")
    if isinstance(exc, ConnectionResetError) or err in (errno.ECONNRESET, errno.EPIPE):
        return StreamStatus.now(StreamState.OFFLINE, "connection closed by the device")
    if isinstance(exc, EOFError) or name == "EOFError" or "end of file" in lowered:
        return StreamStatus.now(StreamState.OFFLINE, "stream closed by the device")
    if name == "FileNotFoundError" or err == errno.ENOENT:
        return StreamStatus.now(StreamState.OFFLINE, "file not found")
    if "name or service" in lowered or "resolve" in lowered:
        return StreamStatus.now(StreamState.OFFLINE, "host name not found")
    if name == "InvalidDataError":
        # E.g. a web server where the site file says RTSP (the camera's port 80 for its 554).
        return StreamStatus.now(
            StreamState.ERROR, "the device's answer is not a video stream (invalid data)"
        )
    # FFmpeg's own words, without PyAV's "[Errno -1094995529]" and the URL the tile names.
    strerror = getattr(exc, "strerror", None)
    if isinstance(strerror, str) and strerror.strip():
        text = _URL_RE.sub(lambda m: redact(m.group(0)), strerror.strip())
    return StreamStatus.now(StreamState.ERROR, text or name)


def _with_urls(exc: BaseException, replace: Callable[[str], str]) -> str:
    """``str(exc)`` with each URL in it (the file name PyAV appends included) replaced."""
    text = str(exc)
    filename = getattr(exc, "filename", None)
    if isinstance(filename, str) and filename:
        text = text.replace(filename, replace(filename))
    return _URL_RE.sub(lambda m: replace(m.group(0)), text)


def _without_urls(exc: BaseException) -> str:
    """The error's message with the URLs taken out, for matching."""
    return _with_urls(exc, lambda _url: "")


def describe_error(exc: BaseException) -> str:
    """The error's message, fit for a tile, a log or an audit line: no password in it.

    PyAV's errors end with the URL that failed ("...: 'rtsp://user:pass@host/...'"), and the
    worker opens the URL with the credentials filled in; an error nobody classified is shown
    to the operator as it is. So every URL in the text loses its user info and secret query
    values.
    """
    return _with_urls(exc, redact)
