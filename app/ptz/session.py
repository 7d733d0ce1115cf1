"""PtzSession: operator input (speeds) → ContinuousMove at a bounded rate, Stop at once."""

from __future__ import annotations

import concurrent.futures
import logging
import threading
import time
from collections.abc import Callable

from app.events import Signal
from app.onvif.errors import OnvifError, OnvifErrorKind
from app.ptz.controller import PtzController
from app.ptz.model import PtzVector

log = logging.getLogger(__name__)

DEFAULT_RATE_HZ = 10.0
# Every ContinuousMove carries this Timeout and is re-sent while the input is held, so a
# lost Stop (network cut, crash) leaves the dome turning for at most this long.
DEFAULT_MOVE_TIMEOUT_S = 1.0


class PtzSession:
    """One operator steering one PTZ head, from a mouse, the keyboard or a joystick.

    ``request(v)`` sets the wanted speed. A change goes out at once when the last command
    is at least ``1 / rate_hz`` old; otherwise it waits for ``tick()`` (last write wins), so
    a storm of input events never becomes a storm of SOAP requests. ``release()`` (and
    ``stop()``: focus lost, tile changed, exit) sends Stop at once, skipping the rate
    limit. While a speed is held, ``tick()`` re-sends it every half Timeout.

    Time comes from ``clock`` so the rules can be tested without waiting. Whoever owns the
    session calls ``tick()`` often (every 20-50 ms; the GUI from a timer).

    Signals (emitted in the thread where a command's future completes, often onvif-loop):
        errors(OnvifError), manual_input() on every request and release (tours stop on it),
        sent(str kind, PtzVector) for each command handed to the controller.
    Thread: any; a lock guards the state.
    """

    def __init__(
        self,
        controller: PtzController,
        clock: Callable[[], float] = time.monotonic,
        rate_hz: float = DEFAULT_RATE_HZ,
        move_timeout_s: float = DEFAULT_MOVE_TIMEOUT_S,
    ) -> None:
        self.controller = controller
        self._clock = clock
        self._interval = 1.0 / rate_hz
        self.move_timeout_s = move_timeout_s
        self._keepalive = move_timeout_s / 2
        self._lock = threading.Lock()
        self._wanted: PtzVector | None = None
        self._sent: PtzVector | None = None  # the speed the head runs at, as far as we know
        self._sent_at = -1e18  # when _sent went out
        self._last_send = -1e18  # when any command went out (the rate limit)
        self._closed = False
        self.moves_sent = 0
        self.stops_sent = 0
        self.last_error: OnvifError | None = None
        self.errors: Signal[[OnvifError]] = Signal()
        self.manual_input: Signal[[]] = Signal()
        self.sent: Signal[[str, PtzVector]] = Signal()

    @property
    def moving(self) -> bool:
        """True from a move sent until the Stop: the head may be turning."""
        with self._lock:
            return self._sent is not None

    @property
    def wanted(self) -> PtzVector:
        with self._lock:
            return self._wanted or PtzVector.ZERO

    # --- operator input ----------------------------------------------------------------------

    def request(self, v: PtzVector) -> None:
        """The operator wants speed ``v`` (each axis in [-1, 1]); zero is a release."""
        v = v.clamped().rounded()
        if v.is_zero:
            self.release()
            return
        self.manual_input.emit()
        with self._lock:
            if self._closed:
                return
            self._wanted = v
            send = self._due(self._clock())
        if send is not None:
            self._send_move(send)

    def release(self) -> None:
        """The operator let go: Stop now if the head may be moving."""
        self.manual_input.emit()
        self.stop()

    def stop(self) -> concurrent.futures.Future[bool] | None:
        """Stop now if the head may be moving (focus lost, tile changed, exit).

        Returns the Stop's future (None when no Stop was needed), so that an owner about to
        close the connection can first let the Stop reach the device.
        """
        with self._lock:
            self._wanted = None
            if self._sent is None:
                return None
            self._sent = None
            self._last_send = self._clock()
            self.stops_sent += 1
        future = self.controller.stop()
        self._track("Stop", future)
        self.sent.emit("stop", PtzVector.ZERO)
        return future

    def tick(self) -> None:
        """Send a waiting change or the keep-alive when due."""
        with self._lock:
            send = self._due(self._clock())
        if send is not None:
            self._send_move(send)

    def close(self) -> concurrent.futures.Future[bool] | None:
        """Stop and accept no more input; the Stop's future, as for ``stop``."""
        future = self.stop()
        with self._lock:
            self._closed = True
        return future

    # --- internals ----------------------------------------------------------------------------

    def _due(self, now: float) -> PtzVector | None:
        """The move to send now, if any; updates the bookkeeping. Caller holds the lock."""
        wanted = self._wanted
        if wanted is None or self._closed:
            return None
        changed = wanted != self._sent
        if not changed and now - self._sent_at < self._keepalive:
            return None
        # The epsilon: ticks that land exactly on the interval must not slip by one tick.
        if now - self._last_send < self._interval - 1e-6:
            return None
        self._sent = wanted
        self._sent_at = self._last_send = now
        self.moves_sent += 1
        return wanted

    def _send_move(self, v: PtzVector) -> None:
        self._track("ContinuousMove", self.controller.continuous_move(v, self.move_timeout_s))
        self.sent.emit("move", v)

    def _track(self, what: str, future: concurrent.futures.Future[bool]) -> None:
        def done(f: concurrent.futures.Future[bool]) -> None:
            if f.cancelled():
                return
            exc = f.exception()
            if exc is None:
                return
            err = (
                exc
                if isinstance(exc, OnvifError)
                else OnvifError(OnvifErrorKind.DEVICE, f"{what}: {exc}")
            )
            self.last_error = err
            log.debug("PTZ %s failed: %s", what, err)
            self.errors.emit(err)

        future.add_done_callback(done)
