"""ONVIF PTZ service (ver20) of a virtual camera, over each optic's PtzState."""

from __future__ import annotations

import datetime as dt
import xml.etree.ElementTree as ET

from app.demo.model import Preset, PtzPosition, PtzState, VirtualOptic
from app.demo.onvif.common import Context, Handler, ptz_config_token, ptz_node_token
from app.demo.onvif.soap import (
    child,
    el,
    parse_duration,
    receiver,
    required_text,
    sender,
    text,
    to_bool,
    to_float,
    tx,
    xs_datetime,
    xs_duration,
)

_SPACES = "http://www.onvif.org/ver10/tptz"
PT_POSITION = f"{_SPACES}/PanTiltSpaces/PositionGenericSpace"
ZOOM_POSITION = f"{_SPACES}/ZoomSpaces/PositionGenericSpace"
PT_TRANSLATION = f"{_SPACES}/PanTiltSpaces/TranslationGenericSpace"
ZOOM_TRANSLATION = f"{_SPACES}/ZoomSpaces/TranslationGenericSpace"
PT_VELOCITY = f"{_SPACES}/PanTiltSpaces/VelocityGenericSpace"
ZOOM_VELOCITY = f"{_SPACES}/ZoomSpaces/VelocityGenericSpace"
PT_SPEED = f"{_SPACES}/PanTiltSpaces/GenericSpeedSpace"
ZOOM_SPEED = f"{_SPACES}/ZoomSpaces/ZoomGenericSpeedSpace"

DEFAULT_TIMEOUT_S = 10.0
# A zero timeout would mean "forever" to PtzState, so continuous moves are clamped to this.
MIN_TIMEOUT_S = 0.1
MAX_TIMEOUT_S = 60.0
MAX_PRESETS = 64


def _range(tag: str, lo: float, hi: float) -> str:
    return el(tag, tx("tt:Min", lo), tx("tt:Max", hi))


def _space2d(tag: str, uri: str, lo: float = -1.0, hi: float = 1.0) -> str:
    return el(tag, tx("tt:URI", uri), _range("tt:XRange", lo, hi), _range("tt:YRange", lo, hi))


def _space1d(tag: str, uri: str, lo: float, hi: float) -> str:
    return el(tag, tx("tt:URI", uri), _range("tt:XRange", lo, hi))


def _spaces(tag: str, ptz: PtzState) -> str:
    pt = ptz.pan_tilt
    return el(
        tag,
        _space2d("tt:AbsolutePanTiltPositionSpace", PT_POSITION) if pt else "",
        _space1d("tt:AbsoluteZoomPositionSpace", ZOOM_POSITION, 0.0, 1.0),
        _space2d("tt:RelativePanTiltTranslationSpace", PT_TRANSLATION) if pt else "",
        _space1d("tt:RelativeZoomTranslationSpace", ZOOM_TRANSLATION, -1.0, 1.0),
        _space2d("tt:ContinuousPanTiltVelocitySpace", PT_VELOCITY) if pt else "",
        _space1d("tt:ContinuousZoomVelocitySpace", ZOOM_VELOCITY, -1.0, 1.0),
        _space1d("tt:PanTiltSpeedSpace", PT_SPEED, 0.0, 1.0) if pt else "",
        _space1d("tt:ZoomSpeedSpace", ZOOM_SPEED, 0.0, 1.0),
    )


def _vector(tag: str, pos: PtzPosition, pan_tilt: bool, pt_space: str, zoom_space: str) -> str:
    return el(
        tag,
        el("tt:PanTilt", x=pos.pan, y=pos.tilt, space=pt_space) if pan_tilt else "",
        el("tt:Zoom", x=pos.zoom, space=zoom_space),
    )


def ptz_configuration(tag: str, optic: VirtualOptic) -> str:
    """A tt:PTZConfiguration, under ``tag`` (it is tt: inside a profile, tptz: on its own)."""
    assert optic.ptz is not None
    pt = optic.ptz.pan_tilt
    i = optic.index
    return el(
        tag,
        tx("tt:Name", f"PTZ {optic.name}"[:64]),
        tx("tt:UseCount", 2),
        tx("tt:NodeToken", ptz_node_token(i)),
        tx("tt:DefaultAbsolutePantTiltPositionSpace", PT_POSITION) if pt else "",
        tx("tt:DefaultAbsoluteZoomPositionSpace", ZOOM_POSITION),
        tx("tt:DefaultRelativePanTiltTranslationSpace", PT_TRANSLATION) if pt else "",
        tx("tt:DefaultRelativeZoomTranslationSpace", ZOOM_TRANSLATION),
        tx("tt:DefaultContinuousPanTiltVelocitySpace", PT_VELOCITY) if pt else "",
        tx("tt:DefaultContinuousZoomVelocitySpace", ZOOM_VELOCITY),
        el(
            "tt:DefaultPTZSpeed",
            el("tt:PanTilt", x=1.0, y=1.0, space=PT_SPEED) if pt else "",
            el("tt:Zoom", x=1.0, space=ZOOM_SPEED),
        ),
        tx("tt:DefaultPTZTimeout", xs_duration(DEFAULT_TIMEOUT_S)),
        el("tt:PanTiltLimits", _space2d("tt:Range", PT_POSITION)) if pt else "",
        el("tt:ZoomLimits", _space1d("tt:Range", ZOOM_POSITION, 0.0, 1.0)),
        token=ptz_config_token(i),
    )


class PtzHandlers:
    """The operations of /onvif/ptz_service."""

    def __init__(self, ctx: Context) -> None:
        self._ctx = ctx

    def handlers(self) -> dict[str, Handler]:
        return {
            "GetServiceCapabilities": self.get_service_capabilities,
            "GetNodes": self.get_nodes,
            "GetNode": self.get_node,
            "GetConfigurations": self.get_configurations,
            "GetConfiguration": self.get_configuration,
            "GetConfigurationOptions": self.get_configuration_options,
            "ContinuousMove": self.continuous_move,
            "RelativeMove": self.relative_move,
            "AbsoluteMove": self.absolute_move,
            "Stop": self.stop,
            "GetStatus": self.get_status,
            "GetPresets": self.get_presets,
            "SetPreset": self.set_preset,
            "RemovePreset": self.remove_preset,
            "GotoPreset": self.goto_preset,
            "GotoHomePosition": self.goto_home_position,
            "SetHomePosition": self.set_home_position,
        }

    # --- lookups ---

    def _ptz_optics(self) -> list[VirtualOptic]:
        return [o for o in self._ctx.camera.optics if o.ptz is not None]

    def _by_token(self, token: str, make: str) -> VirtualOptic:
        for o in self._ptz_optics():
            if (ptz_node_token if make == "node" else ptz_config_token)(o.index) == token:
                return o
        raise sender("InvalidArgVal", "NoEntity", reason=f"no PTZ {make} {token!r}")

    def _profile(self, op: ET.Element) -> tuple[VirtualOptic, PtzState]:
        return self._ctx.ptz_of_profile(required_text(op, "ProfileToken"))

    # --- capabilities and configuration ---

    def get_service_capabilities(self, op: ET.Element) -> str:
        return el("tptz:GetServiceCapabilitiesResponse", capabilities())

    def _node(self, tag: str, optic: VirtualOptic) -> str:
        assert optic.ptz is not None
        return el(
            tag,
            tx("tt:Name", optic.name[:64]),
            _spaces("tt:SupportedPTZSpaces", optic.ptz),
            tx("tt:MaximumNumberOfPresets", MAX_PRESETS),
            tx("tt:HomeSupported", True),
            token=ptz_node_token(optic.index),
            FixedHomePosition=False,
        )

    def get_nodes(self, op: ET.Element) -> str:
        nodes = [self._node("tptz:PTZNode", o) for o in self._ptz_optics()]
        return el("tptz:GetNodesResponse", *nodes)

    def get_node(self, op: ET.Element) -> str:
        optic = self._by_token(required_text(op, "NodeToken"), "node")
        return el("tptz:GetNodeResponse", self._node("tptz:PTZNode", optic))

    def get_configurations(self, op: ET.Element) -> str:
        configs = [ptz_configuration("tptz:PTZConfiguration", o) for o in self._ptz_optics()]
        return el("tptz:GetConfigurationsResponse", *configs)

    def get_configuration(self, op: ET.Element) -> str:
        optic = self._by_token(required_text(op, "PTZConfigurationToken"), "configuration")
        return el(
            "tptz:GetConfigurationResponse", ptz_configuration("tptz:PTZConfiguration", optic)
        )

    def get_configuration_options(self, op: ET.Element) -> str:
        optic = self._by_token(required_text(op, "ConfigurationToken"), "configuration")
        assert optic.ptz is not None
        options = el(
            "tptz:PTZConfigurationOptions",
            _spaces("tt:Spaces", optic.ptz),
            el(
                "tt:PTZTimeout",
                tx("tt:Min", xs_duration(MIN_TIMEOUT_S)),
                tx("tt:Max", xs_duration(MAX_TIMEOUT_S)),
            ),
        )
        return el("tptz:GetConfigurationOptionsResponse", options)

    # --- movement ---

    def continuous_move(self, op: ET.Element) -> str:
        _, ptz = self._profile(op)
        velocity = child(op, "Velocity")
        if velocity is None:
            raise sender("InvalidArgs", reason="ContinuousMove: missing Velocity")
        # An axis left out of Velocity stops, as on most real domes: clients send both.
        pan, tilt = _pan_tilt(velocity, PT_VELOCITY, (0.0, 0.0))
        zoom = _zoom(velocity, ZOOM_VELOCITY, 0.0)
        timeout_text = text(op, "Timeout")
        timeout = parse_duration(timeout_text) if timeout_text else DEFAULT_TIMEOUT_S
        timeout = min(max(timeout, MIN_TIMEOUT_S), MAX_TIMEOUT_S)
        ptz.continuous_move(pan, tilt, zoom, timeout=timeout)
        return el("tptz:ContinuousMoveResponse")

    def relative_move(self, op: ET.Element) -> str:
        _, ptz = self._profile(op)
        translation = child(op, "Translation")
        if translation is None:
            raise sender("InvalidArgs", reason="RelativeMove: missing Translation")
        pan, tilt = _pan_tilt(translation, PT_TRANSLATION, (0.0, 0.0))
        zoom = _zoom(translation, ZOOM_TRANSLATION, 0.0)
        ptz.relative_move(pan, tilt, zoom, speed=_speed(op))
        return el("tptz:RelativeMoveResponse")

    def absolute_move(self, op: ET.Element) -> str:
        _, ptz = self._profile(op)
        position = child(op, "Position")
        if position is None:
            raise sender("InvalidArgs", reason="AbsoluteMove: missing Position")
        # An axis left out keeps its current position.
        here = ptz.position()
        pan, tilt = _pan_tilt(position, PT_POSITION, (here.pan, here.tilt))
        zoom = _zoom(position, ZOOM_POSITION, here.zoom)
        ptz.absolute_move(PtzPosition(pan, tilt, zoom), speed=_speed(op))
        return el("tptz:AbsoluteMoveResponse")

    def stop(self, op: ET.Element) -> str:
        _, ptz = self._profile(op)
        ptz.stop(pan_tilt=to_bool(text(op, "PanTilt"), True), zoom=to_bool(text(op, "Zoom"), True))
        return el("tptz:StopResponse")

    def get_status(self, op: ET.Element) -> str:
        _, ptz = self._profile(op)
        pos = ptz.position()
        pt_moving, zoom_moving = ptz.moving()
        status = el(
            "tptz:PTZStatus",
            _vector("tt:Position", pos, ptz.pan_tilt, PT_POSITION, ZOOM_POSITION),
            el(
                "tt:MoveStatus",
                tx("tt:PanTilt", "MOVING" if pt_moving else "IDLE") if ptz.pan_tilt else "",
                tx("tt:Zoom", "MOVING" if zoom_moving else "IDLE"),
            ),
            tx("tt:UtcTime", xs_datetime(dt.datetime.now(dt.UTC))),
        )
        return el("tptz:GetStatusResponse", status)

    # --- presets and home ---

    def _preset(self, tag: str, preset: Preset, pan_tilt: bool) -> str:
        return el(
            tag,
            tx("tt:Name", preset.name),
            _vector("tt:PTZPosition", preset.position, pan_tilt, PT_POSITION, ZOOM_POSITION),
            token=preset.token,
        )

    def get_presets(self, op: ET.Element) -> str:
        _, ptz = self._profile(op)
        with self._ctx.lock:
            presets = sorted(ptz.presets.values(), key=_preset_order)
        return el(
            "tptz:GetPresetsResponse",
            *(self._preset("tptz:Preset", p, ptz.pan_tilt) for p in presets),
        )

    def set_preset(self, op: ET.Element) -> str:
        _, ptz = self._profile(op)
        name = text(op, "PresetName") or None
        token = text(op, "PresetToken") or None
        if name is not None and len(name) > 64:
            raise sender("InvalidArgVal", "InvalidPresetName", reason="PresetName is too long")
        position = ptz.position()
        with self._ctx.lock:
            taken = {p.name for p in ptz.presets.values() if p.token != token}
            if name is not None and name in taken:
                raise sender("InvalidArgVal", "PresetExist", reason=f"preset {name!r} exists")
            if token is not None:
                preset = ptz.presets.get(token)
                if preset is None:
                    raise sender("InvalidArgVal", "NoToken", reason=f"no preset {token!r}")
                preset.position = position
                if name is not None:
                    preset.name = name
            else:
                if len(ptz.presets) >= MAX_PRESETS:
                    raise receiver("Action", "TooManyPresets", reason="no free preset slot")
                token = next(str(n) for n in range(1, MAX_PRESETS + 2) if str(n) not in ptz.presets)
                ptz.presets[token] = Preset(token, name or f"Preset {token}", position)
        return el("tptz:SetPresetResponse", tx("tptz:PresetToken", token))

    def remove_preset(self, op: ET.Element) -> str:
        _, ptz = self._profile(op)
        token = required_text(op, "PresetToken")
        with self._ctx.lock:
            if ptz.presets.pop(token, None) is None:
                raise sender("InvalidArgVal", "NoToken", reason=f"no preset {token!r}")
        return el("tptz:RemovePresetResponse")

    def goto_preset(self, op: ET.Element) -> str:
        _, ptz = self._profile(op)
        token = required_text(op, "PresetToken")
        with self._ctx.lock:
            preset = ptz.presets.get(token)
        if preset is None:
            raise sender("InvalidArgVal", "NoToken", reason=f"no preset {token!r}")
        ptz.absolute_move(preset.position, speed=_speed(op))
        return el("tptz:GotoPresetResponse")

    def goto_home_position(self, op: ET.Element) -> str:
        _, ptz = self._profile(op)
        with self._ctx.lock:
            home = ptz.home
        ptz.absolute_move(home, speed=_speed(op))
        return el("tptz:GotoHomePositionResponse")

    def set_home_position(self, op: ET.Element) -> str:
        _, ptz = self._profile(op)
        position = ptz.position()
        with self._ctx.lock:
            ptz.home = position
        return el("tptz:SetHomePositionResponse")


def capabilities() -> str:
    return el("tptz:Capabilities", EFlip=False, Reverse=False, GetCompatibleConfigurations=False)


def _preset_order(p: Preset) -> tuple[int, str]:
    return (int(p.token), "") if p.token.isdigit() else (1 << 30, p.token)


def _check_space(vec: ET.Element, expected: str) -> None:
    space = vec.get("space")
    if space is not None and space != expected:
        raise sender("InvalidArgVal", "SpaceNotSupported", reason=f"unsupported space {space}")


def _pan_tilt(parent: ET.Element, space: str, default: tuple[float, float]) -> tuple[float, float]:
    vec = child(parent, "PanTilt")
    if vec is None:
        return default
    _check_space(vec, space)
    return to_float(vec.get("x"), "PanTilt x"), to_float(vec.get("y"), "PanTilt y")


def _zoom(parent: ET.Element, space: str, default: float) -> float:
    vec = child(parent, "Zoom")
    if vec is None:
        return default
    _check_space(vec, space)
    return to_float(vec.get("x"), "Zoom x")


def _speed(op: ET.Element) -> float:
    """PtzState has one speed for all axes: take the fastest the client asked for."""
    speed = child(op, "Speed")
    if speed is None:
        return 1.0
    parts: list[float] = []
    pt = child(speed, "PanTilt")
    if pt is not None:
        _check_space(pt, PT_SPEED)
        parts += [abs(to_float(pt.get("x"), "Speed x")), abs(to_float(pt.get("y"), "Speed y"))]
    z = child(speed, "Zoom")
    if z is not None:
        _check_space(z, ZOOM_SPEED)
        parts.append(abs(to_float(z.get("x"), "Speed zoom")))
    return min(max(parts), 1.0) if parts else 1.0
