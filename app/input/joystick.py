"""USB joysticks via SDL2: axes → PTZ speeds (dead zone, curve, inversion), buttons → actions."""

from __future__ import annotations

import ctypes
import json
import logging
import os
import re
import warnings
from collections.abc import Callable
from dataclasses import asdict, dataclass, field, replace
from pathlib import Path
from typing import Any

from app.ptz.model import PtzVector
from app.ptz.session import PtzSession

log = logging.getLogger(__name__)

AXIS_MAX = 32767.0
SETTINGS_FILE = "joystick.json"

# Actions a button can trigger; "preset:<token>" goes to that preset of the focused dome.
ACTIONS = ("next_camera", "previous_camera", "next_tile", "home", "stop")


@dataclass(frozen=True, slots=True)
class JoystickSettings:
    """How one joystick drives PTZ. Axis indices are SDL's; -1 disables an axis."""

    pan_axis: int = 0
    tilt_axis: int = 1
    zoom_axis: int = 2
    dead_zone: float = 0.12  # fraction of the travel around the centre that does nothing
    curve: float = 2.0  # response exponent: 1 linear, 2 fine control near the centre
    invert_pan: bool = False
    invert_tilt: bool = False  # False: stick pushed forward tilts up
    invert_zoom: bool = False
    buttons: dict[int, str] = field(
        default_factory=lambda: {0: "preset:1", 1: "preset:2", 2: "preset:3", 3: "preset:4",
                                 4: "next_tile", 5: "next_camera", 6: "home", 7: "stop"}
    )  # fmt: skip

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> JoystickSettings:
        known = {f for f in cls.__dataclass_fields__}
        values = {k: v for k, v in data.items() if k in known}
        if "buttons" in values:
            values["buttons"] = {int(k): str(v) for k, v in values["buttons"].items()}
        return replace(cls(), **values)


def shape(value: float, dead_zone: float, curve: float, invert: bool = False) -> float:
    """An axis in [-1, 1] after dead zone, response curve and inversion."""
    magnitude = abs(value)
    if magnitude <= dead_zone:
        return 0.0
    m = float(min(1.0, (magnitude - dead_zone) / (1.0 - dead_zone)) ** curve)
    out = m if value > 0 else -m
    return -out if invert else out


def vector_from_axes(axes: dict[int, float], s: JoystickSettings) -> PtzVector:
    """Raw axes (SDL convention: forward/up is negative Y) → a PTZ speed."""

    def axis(index: int) -> float:
        return axes.get(index, 0.0) if index >= 0 else 0.0

    return PtzVector(
        shape(axis(s.pan_axis), s.dead_zone, s.curve, s.invert_pan),
        shape(-axis(s.tilt_axis), s.dead_zone, s.curve, s.invert_tilt),
        shape(-axis(s.zoom_axis), s.dead_zone, s.curve, s.invert_zoom),
    ).rounded()


def config_dir() -> Path:
    env = os.environ.get("TORRAZZO_CONFIG_DIR")
    if env:
        return Path(env)
    from platformdirs import user_config_dir

    return Path(user_config_dir("torrazzo", appauthor=False))


def settings_path(user: str | None = None) -> Path:
    """The settings file of a Torrazzo login user (several operators share one desktop
    account in a control room, so the OS user is not enough); without one, the OS user's."""
    if not user:
        return config_dir() / SETTINGS_FILE
    slug = re.sub(r"[^A-Za-z0-9_.-]+", "_", user).strip("._") or "user"
    return config_dir() / f"joystick-{slug}.json"


class SettingsStore:
    """Per-user joystick settings: a default and overrides per device name, in JSON."""

    def __init__(self, path: Path | None = None, *, user: str | None = None) -> None:
        self.path = path or settings_path(user)
        self.default = JoystickSettings()
        self.devices: dict[str, JoystickSettings] = {}
        self.load()

    def load(self) -> None:
        try:
            data = json.loads(self.path.read_text())
        except FileNotFoundError:
            return
        except (OSError, ValueError) as e:
            log.warning("joystick settings %s unreadable, using defaults: %s", self.path, e)
            return
        self.default = JoystickSettings.from_dict(data.get("default", {}))
        self.devices = {
            name: JoystickSettings.from_dict(d) for name, d in data.get("devices", {}).items()
        }

    def for_device(self, name: str) -> JoystickSettings:
        return self.devices.get(name, self.default)

    def set_device(self, name: str, settings: JoystickSettings) -> None:
        self.devices[name] = settings
        self.save()

    def save(self) -> None:
        """Atomically (temp file, then rename), so a crash never leaves half a file."""
        data = {
            "default": asdict(self.default),
            "devices": {n: asdict(s) for n, s in self.devices.items()},
        }
        self.path.parent.mkdir(parents=True, exist_ok=True)
        tmp = self.path.with_suffix(".tmp")
        tmp.write_text(json.dumps(data, indent=1))
        tmp.replace(self.path)


@dataclass
class _Device:
    instance_id: int
    handle: Any
    name: str
    settings: JoystickSettings
    axes: dict[int, float] = field(default_factory=dict)


class JoystickInput:
    """Reads every attached joystick through SDL2 and drives the focused PtzSession.

    Hot-plug: devices appear and vanish with SDL's device events; an unplugged stick
    releases its session (the dome stops). ``target()`` names the session to drive (the
    focused tile's, or None); ``on_action(action)`` gets button actions.

    Thread: SDL wants its events pumped by the thread that initialised it: call ``open``,
    ``poll`` (every 10-20 ms, e.g. from a GUI timer) and ``close`` from one thread.
    """

    def __init__(
        self,
        target: Callable[[], PtzSession | None],
        on_action: Callable[[str], None] = lambda _a: None,
        store: SettingsStore | None = None,
    ) -> None:
        self._target = target
        self._on_action = on_action
        self.store = store or SettingsStore()
        self.devices: dict[int, _Device] = {}
        self._sdl: Any = None
        self._driving: PtzSession | None = None
        self._last: PtzVector = PtzVector.ZERO
        self.vector: PtzVector = PtzVector.ZERO  # the last speed computed (for the UI)

    def open(self) -> bool:
        """Start SDL's joystick subsystem; False (logged) if SDL is unavailable."""
        os.environ.setdefault("SDL_VIDEODRIVER", "dummy")
        try:
            with warnings.catch_warnings():
                # pysdl2 warns on import that it found pysdl2-dll's library: that is expected.
                warnings.simplefilter("ignore", UserWarning)
                import sdl2
        except ImportError as e:  # no SDL2 library on this machine
            log.warning("no joystick support: %s", e)
            return False
        sdl2.SDL_SetHint(sdl2.SDL_HINT_JOYSTICK_ALLOW_BACKGROUND_EVENTS, b"1")
        if sdl2.SDL_InitSubSystem(sdl2.SDL_INIT_JOYSTICK) != 0:
            log.warning("no joystick support: %s", sdl2.SDL_GetError().decode(errors="replace"))
            return False
        sdl2.SDL_JoystickEventState(sdl2.SDL_ENABLE)
        self._sdl = sdl2
        return True

    def close(self) -> None:
        self._release()
        sdl = self._sdl
        if sdl is None:
            return
        for dev in self.devices.values():
            sdl.SDL_JoystickClose(dev.handle)
        self.devices.clear()
        sdl.SDL_QuitSubSystem(sdl.SDL_INIT_JOYSTICK)
        self._sdl = None

    def poll(self) -> None:
        """Handle pending SDL events, then drive the target with the sticks' speed."""
        sdl = self._sdl
        if sdl is None:
            return
        event = sdl.SDL_Event()
        while sdl.SDL_PollEvent(ctypes.byref(event)):
            t = event.type
            if t == sdl.SDL_JOYDEVICEADDED:
                self._added(event.jdevice.which)
            elif t == sdl.SDL_JOYDEVICEREMOVED:
                self._removed(event.jdevice.which)
            elif t == sdl.SDL_JOYAXISMOTION:
                dev = self.devices.get(event.jaxis.which)
                if dev is not None:
                    dev.axes[event.jaxis.axis] = max(-1.0, event.jaxis.value / AXIS_MAX)
            elif t == sdl.SDL_JOYBUTTONDOWN:
                dev = self.devices.get(event.jbutton.which)
                if dev is not None:
                    self._button(dev, event.jbutton.button)
        self._drive()

    def _added(self, device_index: int) -> None:
        sdl = self._sdl
        handle = sdl.SDL_JoystickOpen(device_index)
        if not handle:
            log.warning("cannot open joystick %d: %s", device_index, sdl.SDL_GetError())
            return
        instance = sdl.SDL_JoystickInstanceID(handle)
        if instance in self.devices:
            return
        name = (sdl.SDL_JoystickName(handle) or b"joystick").decode(errors="replace")
        self.devices[instance] = _Device(instance, handle, name, self.store.for_device(name))
        log.info("joystick connected: %s", name)

    def _removed(self, instance: int) -> None:
        dev = self.devices.pop(instance, None)
        if dev is None:
            return
        self._sdl.SDL_JoystickClose(dev.handle)
        log.info("joystick disconnected: %s", dev.name)
        if not self.devices:
            self._release()

    def _button(self, dev: _Device, button: int) -> None:
        action = dev.settings.buttons.get(button)
        if action is None:
            return
        if action == "stop":
            self._release()
        self._on_action(action)

    def _drive(self) -> None:
        v = PtzVector.ZERO
        for dev in self.devices.values():
            dv = vector_from_axes(dev.axes, dev.settings)
            if not dv.is_zero:
                v = dv  # several sticks: the one being moved wins
        self.vector = v
        target = self._target()
        if target is not self._driving:
            self._release()  # focus moved to another tile: stop the old dome
            self._driving = target
            self._last = PtzVector.ZERO
        if target is None or v == self._last:
            return
        self._last = v
        if v.is_zero:
            target.release()
        else:
            target.request(v)

    def _release(self) -> None:
        if self._driving is not None and not self._last.is_zero:
            self._driving.release()
        self._last = PtzVector.ZERO
