"""PtzController: what a PTZ head can be told to do; the ONVIF implementation."""

from __future__ import annotations

import concurrent.futures
import logging
from collections.abc import Callable
from typing import Protocol, TypeVar, runtime_checkable

from app.onvif.client import OnvifClient
from app.onvif.model import (
    FocusCapabilities,
    FocusStatus,
    PtzCapabilities,
    PtzPresetInfo,
    PtzStatus,
)
from app.ptz.model import PtzVector

log = logging.getLogger(__name__)

Future = concurrent.futures.Future
T = TypeVar("T")
C = TypeVar("C")  # a capabilities record (PTZ or focus)


@runtime_checkable
class PtzController(Protocol):
    """Commands for one PTZ head or motorised lens; every method returns at once.

    Speeds are in [-1, 1] per axis; relative and absolute moves use the device's generic
    spaces (pan/tilt in [-1, 1], zoom in [0, 1]). Motion futures give False when a newer
    command replaced this one before it went out. Thread: any.
    """

    def capabilities(self) -> Future[PtzCapabilities]: ...

    def continuous_move(self, v: PtzVector, timeout_s: float) -> Future[bool]: ...

    def stop(self) -> Future[bool]: ...

    def relative_move(self, v: PtzVector) -> Future[bool]: ...

    def absolute_move(
        self, pan: float | None, tilt: float | None, zoom: float | None
    ) -> Future[bool]: ...

    def goto_preset(self, token: str) -> Future[bool]: ...

    def goto_home(self) -> Future[bool]: ...

    def status(self) -> Future[PtzStatus]: ...

    def presets(self) -> Future[list[PtzPresetInfo]]: ...

    def set_preset(self, name: str | None, token: str | None = None) -> Future[str]: ...


class OnvifPtzController:
    """PtzController for one optic of an ONVIF device.

    The PTZ profile and the node's capabilities are discovered once, on first use; the
    commands that follow wait for that (on the onvif-loop, never in the caller).
    """

    def __init__(self, client: OnvifClient, optic: int = 0) -> None:
        self.client = client
        self.optic = optic
        self._caps: Future[PtzCapabilities] | None = None
        self._focus_caps: Future[FocusCapabilities] | None = None

    def capabilities(self) -> Future[PtzCapabilities]:
        caps = self._caps
        if caps is None or (caps.done() and caps.exception() is not None):
            # A failed discovery (camera down) is retried by the next command.
            caps = self._caps = self.client.ptz_capabilities(self.optic)
        return caps

    def _then(self, call: Callable[[PtzCapabilities], Future[T]]) -> Future[T]:
        return _after(self.capabilities(), call)

    def continuous_move(self, v: PtzVector, timeout_s: float) -> Future[bool]:
        def call(c: PtzCapabilities) -> Future[bool]:
            t = c.timeout_range.clamp(timeout_s)
            return self.client.continuous_move(
                c.profile_token, v.pan, v.tilt, v.zoom, t, pan_tilt=c.pan_tilt, with_zoom=c.zoom
            )

        return self._then(call)

    def stop(self) -> Future[bool]:
        return self._then(lambda c: self.client.stop(c.profile_token))

    def relative_move(self, v: PtzVector) -> Future[bool]:
        return self._then(
            lambda c: self.client.relative_move(
                c.profile_token, v.pan, v.tilt, v.zoom, pan_tilt=c.pan_tilt, with_zoom=c.zoom
            )
        )

    def absolute_move(
        self, pan: float | None, tilt: float | None, zoom: float | None
    ) -> Future[bool]:
        def call(c: PtzCapabilities) -> Future[bool]:
            p = None if pan is None or not c.pan_tilt else c.pan_range.clamp(pan)
            t = None if tilt is None or not c.pan_tilt else c.tilt_range.clamp(tilt)
            z = None if zoom is None or not c.zoom else c.zoom_range.clamp(zoom)
            return self.client.absolute_move(c.profile_token, p, t, z)

        return self._then(call)

    def goto_preset(self, token: str) -> Future[bool]:
        return self._then(lambda c: self.client.goto_preset(c.profile_token, token))

    def goto_home(self) -> Future[bool]:
        return self._then(lambda c: self.client.goto_home(c.profile_token))

    def status(self) -> Future[PtzStatus]:
        return self._then(lambda c: self.client.status(c.profile_token))

    def presets(self) -> Future[list[PtzPresetInfo]]:
        return self._then(lambda c: self.client.presets(c.profile_token))

    def set_preset(self, name: str | None, token: str | None = None) -> Future[str]:
        return self._then(lambda c: self.client.set_preset(c.profile_token, name, token))

    def set_home(self) -> Future[None]:
        return self._then(lambda c: self.client.set_home(c.profile_token))

    # --- the lens's focus motor (ONVIF Imaging on this optic's video source) ----------------

    def focus_capabilities(self) -> Future[FocusCapabilities]:
        caps = self._focus_caps
        if caps is None or (caps.done() and caps.exception() is not None):
            caps = self._focus_caps = self.client.focus_capabilities(self.optic)
        return caps

    def _then_focus(self, call: Callable[[FocusCapabilities], Future[T]]) -> Future[T]:
        return _after(self.focus_capabilities(), call)

    def focus_move(self, speed: float) -> Future[bool]:
        """Drive focus continuously (+ far, - near, in [-1, 1]) until ``focus_stop``."""

        def call(c: FocusCapabilities) -> Future[bool]:
            return self.client.focus_move(c.source_token, c.speed_range.clamp(speed))

        return self._then_focus(call)

    def focus_stop(self) -> Future[bool]:
        return self._then_focus(lambda c: self.client.focus_stop(c.source_token))

    def focus_status(self) -> Future[FocusStatus]:
        return self._then_focus(lambda c: self.client.focus_status(c.source_token))


def _after(caps: Future[C], call: Callable[[C], Future[T]]) -> Future[T]:
    """The future of ``call(capabilities)``, once the (cached) capabilities are known."""
    out: Future[T] = Future()
    out.set_running_or_notify_cancel()

    def on_caps(f: Future[C]) -> None:
        try:
            inner = call(f.result())
        except BaseException as exc:  # cancelled, discovery failed, or no such motor
            out.set_exception(exc)
            return
        inner.add_done_callback(lambda g: _relay(g, out))

    caps.add_done_callback(on_caps)
    return out


def _relay(g: Future[T], out: Future[T]) -> None:
    if g.cancelled():
        out.cancel()
    elif (e := g.exception()) is not None:
        out.set_exception(e)
    else:
        out.set_result(g.result())
