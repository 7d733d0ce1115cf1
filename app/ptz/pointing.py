"""Click-to-centre and area zoom: picture coordinates → a PTZ move, from a field-of-view model."""

from __future__ import annotations

import concurrent.futures
import math
from dataclasses import dataclass

from app.onvif.model import PtzCapabilities, PtzStatus
from app.ptz.controller import PtzController
from app.ptz.model import PtzVector


@dataclass(frozen=True, slots=True)
class FovModel:
    """How the generic ONVIF spaces map to angles for one dome.

    ``hfov_wide_deg`` is the horizontal field of view at zoom 0 (the site's ``fov``);
    ``zoom_ratio`` the optical zoom at zoom 1 (field of view = wide / ratio ** zoom). Pan
    [-1, 1] covers 360 degrees; ``tilt_deg_per_unit`` is the tilt angle per unit of tilt.
    ONVIF does not say these; they are per model and come from configuration.
    """

    hfov_wide_deg: float = 60.0
    zoom_ratio: float = 20.0
    pan_deg_per_unit: float = 180.0
    tilt_deg_per_unit: float = 45.0

    def hfov(self, zoom: float) -> float:
        return float(self.hfov_wide_deg / self.zoom_ratio ** max(0.0, min(1.0, zoom)))

    def offset(self, dx: float, dy: float, zoom: float, aspect: float) -> tuple[float, float]:
        """(Δpan, Δtilt) that brings the point ``(dx, dy)`` to the centre.

        ``dx``, ``dy``: the point's offset from the picture centre as a fraction of the
        picture's width and height (right and down positive); ``aspect`` = height / width.
        """
        hfov = self.hfov(zoom)
        return (
            dx * hfov / self.pan_deg_per_unit,
            -dy * hfov * aspect / self.tilt_deg_per_unit,
        )

    def zoom_step(self, magnification: float) -> float:
        """Δzoom that narrows the field of view by ``magnification`` (> 1 zooms in)."""
        if magnification <= 0:
            return 0.0
        return math.log(magnification) / math.log(self.zoom_ratio)


def wrap_pan(pan: float) -> float:
    return (pan + 1.0) % 2.0 - 1.0 if not -1.0 <= pan <= 1.0 else pan


@dataclass(frozen=True, slots=True)
class Aim:
    """A planned move: ``relative`` (a translation) or an absolute position."""

    relative: PtzVector | None = None
    absolute: tuple[float, float, float] | None = None


def plan_aim(
    caps: PtzCapabilities,
    status: PtzStatus,
    fov: FovModel,
    dx: float,
    dy: float,
    aspect: float,
    magnification: float = 1.0,
) -> Aim:
    """Centre on ``(dx, dy)`` and zoom by ``magnification``: RelativeMove if the node has a
    translation space, else AbsoluteMove from the current position (cameras without
    RelativeMove are common)."""
    dpan, dtilt = fov.offset(dx, dy, status.zoom, aspect) if caps.pan_tilt else (0.0, 0.0)
    dzoom = fov.zoom_step(magnification) if caps.zoom else 0.0
    if caps.relative:
        return Aim(relative=PtzVector(dpan, dtilt, dzoom))
    return Aim(
        absolute=(
            wrap_pan(status.pan + dpan),
            caps.tilt_range.clamp(status.tilt + dtilt),
            caps.zoom_range.clamp(status.zoom + dzoom),
        )
    )


def aim(
    controller: PtzController,
    fov: FovModel,
    dx: float,
    dy: float,
    aspect: float,
    magnification: float = 1.0,
) -> concurrent.futures.Future[bool]:
    """Click-to-centre (magnification 1) or area zoom, off the caller's thread."""
    out: concurrent.futures.Future[bool] = concurrent.futures.Future()
    out.set_running_or_notify_cancel()
    caps_f = controller.capabilities()

    def relay(f: concurrent.futures.Future[bool]) -> None:
        try:
            out.set_result(f.result())
        except BaseException as e:
            out.set_exception(e)

    def on_status(caps: PtzCapabilities, f: concurrent.futures.Future[PtzStatus]) -> None:
        try:
            plan = plan_aim(caps, f.result(), fov, dx, dy, aspect, magnification)
            if plan.relative is not None:
                move = controller.relative_move(plan.relative)
            else:
                assert plan.absolute is not None
                move = controller.absolute_move(*plan.absolute)
        except BaseException as e:
            out.set_exception(e)
            return
        move.add_done_callback(relay)

    def on_caps(f: concurrent.futures.Future[PtzCapabilities]) -> None:
        try:
            caps = f.result()
        except BaseException as e:
            out.set_exception(e)
            return
        controller.status().add_done_callback(lambda s: on_status(caps, s))

    caps_f.add_done_callback(on_caps)
    return out
