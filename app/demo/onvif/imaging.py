"""ONVIF Imaging service (ver20) of a virtual camera: picture settings and the focus motor."""

from __future__ import annotations

import time
import xml.etree.ElementTree as ET
from collections.abc import Callable

from app.demo.model import VirtualOptic
from app.demo.onvif.common import Context, Handler
from app.demo.onvif.soap import child, el, receiver, required_text, sender, to_float, tx

# A motorised lens racks focus end to end in 2 s at full speed.
FOCUS_SPEED_MAX = 0.5
_PICTURE = 50.0  # brightness, saturation, contrast, sharpness: fixed mid-scale


class FocusMotor:
    """Moves ``optic.focus`` in [0, 1], integrated lazily from time like PtzState.

    Thread: callers hold the service's lock.
    """

    def __init__(self, optic: VirtualOptic, clock: Callable[[], float] = time.monotonic) -> None:
        self._optic = optic
        self._clock = clock
        self._velocity = 0.0  # fraction of FOCUS_SPEED_MAX, signed
        self._target: float | None = None
        self._t = clock()

    def position(self) -> float:
        now = self._clock()
        dt = max(0.0, now - self._t)
        self._t = now
        f = self._optic.focus
        if self._target is not None:
            step = FOCUS_SPEED_MAX * abs(self._velocity) * dt
            f = (
                self._target
                if abs(self._target - f) <= step
                else f + step * _sign(self._target - f)
            )
            if f == self._target:
                self._target, self._velocity = None, 0.0
        elif self._velocity:
            f = min(1.0, max(0.0, f + self._velocity * FOCUS_SPEED_MAX * dt))
            if f in (0.0, 1.0):  # the end stop
                self._velocity = 0.0
        self._optic.focus = f
        return f

    def moving(self) -> bool:
        self.position()
        return self._velocity != 0.0

    def move_to(self, target: float, speed: float) -> None:
        self.position()
        self._target = min(1.0, max(0.0, target))
        self._velocity = min(1.0, max(0.01, abs(speed)))

    def move(self, velocity: float) -> None:
        self.position()
        self._target = None
        self._velocity = min(1.0, max(-1.0, velocity))

    def stop(self) -> None:
        self.position()
        self._target, self._velocity = None, 0.0


def _sign(v: float) -> float:
    return 1.0 if v > 0 else -1.0


def _range(tag: str, lo: float, hi: float) -> str:
    return el(tag, tx("tt:Min", lo), tx("tt:Max", hi))


class ImagingHandlers:
    """The operations of /onvif/imaging_service."""

    def __init__(self, ctx: Context) -> None:
        self._ctx = ctx
        self._motors = {o.index: FocusMotor(o) for o in ctx.camera.optics if o.ptz is not None}

    def handlers(self) -> dict[str, Handler]:
        return {
            "GetServiceCapabilities": self.get_service_capabilities,
            "GetImagingSettings": self.get_imaging_settings,
            "GetOptions": self.get_options,
            "GetMoveOptions": self.get_move_options,
            "Move": self.move,
            "Stop": self.stop,
            "GetStatus": self.get_status,
        }

    def _source(self, op: ET.Element) -> VirtualOptic:
        return self._ctx.optic_of_source(required_text(op, "VideoSourceToken"))

    def _motor(self, op: ET.Element) -> FocusMotor:
        optic = self._source(op)
        motor = self._motors.get(optic.index)
        if motor is None:
            raise receiver(
                "ActionNotSupported", "NoImagingForSource", reason=f"{optic.name}: fixed focus"
            )
        return motor

    def get_service_capabilities(self, op: ET.Element) -> str:
        return el("timg:GetServiceCapabilitiesResponse", capabilities())

    def get_imaging_settings(self, op: ET.Element) -> str:
        optic = self._source(op)
        focus = ""
        if optic.index in self._motors:
            focus = el("tt:Focus", tx("tt:AutoFocusMode", "MANUAL"), tx("tt:DefaultSpeed", 1.0))
        settings = el(
            "timg:ImagingSettings",
            tx("tt:Brightness", _PICTURE),
            tx("tt:ColorSaturation", _PICTURE),
            tx("tt:Contrast", _PICTURE),
            focus,
            tx("tt:Sharpness", _PICTURE),
        )
        return el("timg:GetImagingSettingsResponse", settings)

    def get_options(self, op: ET.Element) -> str:
        optic = self._source(op)
        focus = ""
        if optic.index in self._motors:
            focus = el(
                "tt:Focus",
                tx("tt:AutoFocusModes", "MANUAL"),
                _range("tt:DefaultSpeed", 0.01, 1.0),
            )
        options = el(
            "timg:ImagingOptions",
            _range("tt:Brightness", 0.0, 100.0),
            _range("tt:ColorSaturation", 0.0, 100.0),
            _range("tt:Contrast", 0.0, 100.0),
            focus,
            _range("tt:Sharpness", 0.0, 100.0),
        )
        return el("timg:GetOptionsResponse", options)

    def get_move_options(self, op: ET.Element) -> str:
        self._motor(op)
        options = el(
            "timg:MoveOptions",
            el("tt:Absolute", _range("tt:Position", 0.0, 1.0), _range("tt:Speed", 0.01, 1.0)),
            el("tt:Relative", _range("tt:Distance", -1.0, 1.0), _range("tt:Speed", 0.01, 1.0)),
            el("tt:Continuous", _range("tt:Speed", -1.0, 1.0)),
        )
        return el("timg:GetMoveOptionsResponse", options)

    def move(self, op: ET.Element) -> str:
        motor = self._motor(op)
        focus = child(op, "Focus")
        absolute, relative = child(focus, "Absolute"), child(focus, "Relative")
        continuous = child(focus, "Continuous")
        with self._ctx.lock:
            if absolute is not None:
                target = to_float(required_text(absolute, "Position"), "Focus position")
                speed = child(absolute, "Speed")
                motor.move_to(target, to_float(speed.text, "Speed") if speed is not None else 1.0)
            elif relative is not None:
                distance = to_float(required_text(relative, "Distance"), "Focus distance")
                speed = child(relative, "Speed")
                here = motor.position()
                motor.move_to(
                    here + distance, to_float(speed.text, "Speed") if speed is not None else 1.0
                )
            elif continuous is not None:
                motor.move(to_float(required_text(continuous, "Speed"), "Focus speed"))
            else:
                raise sender("InvalidArgs", reason="Move: Focus needs Absolute/Relative/Continuous")
        return el("timg:MoveResponse")

    def stop(self, op: ET.Element) -> str:
        motor = self._motor(op)
        with self._ctx.lock:
            motor.stop()
        return el("timg:StopResponse")

    def get_status(self, op: ET.Element) -> str:
        motor = self._motor(op)
        with self._ctx.lock:
            position, moving = motor.position(), motor.moving()
        status = el(
            "timg:Status",
            el(
                "tt:FocusStatus20",
                tx("tt:Position", position),
                tx("tt:MoveStatus", "MOVING" if moving else "IDLE"),
            ),
        )
        return el("timg:GetStatusResponse", status)


def capabilities() -> str:
    return el("timg:Capabilities", ImageStabilization=False)
