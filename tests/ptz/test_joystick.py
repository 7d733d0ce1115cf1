"""Joystick input with SDL's own virtual joystick driving a demo dome over ONVIF."""

from __future__ import annotations

import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from app.demo.fleet import Fleet
from app.input.joystick import (
    JoystickInput,
    JoystickSettings,
    SettingsStore,
    settings_path,
    shape,
    vector_from_axes,
)
from app.ptz.factory import PtzRegistry
from app.ptz.model import PtzVector
from app.ptz.session import PtzSession
from tests.ptz.helpers import RecordingPtzController, ptz_state
from tests.ptz.virtual_stick import VirtualStick


def test_dead_zone_curve_and_inversion() -> None:
    assert shape(0.1, 0.12, 2.0) == 0.0
    assert shape(1.0, 0.12, 2.0) == 1.0
    assert shape(-1.0, 0.12, 1.0) == -1.0
    half = shape(0.56, 0.12, 2.0)
    assert half == pytest.approx(0.25)  # (0.44 / 0.88) ** 2: fine control near the centre
    assert shape(0.56, 0.12, 2.0, invert=True) == pytest.approx(-0.25)
    s = JoystickSettings(curve=1.0, dead_zone=0.0)
    # SDL: stick forward is negative Y; forward tilts up.
    assert vector_from_axes({0: 0.5, 1: -1.0}, s) == PtzVector(0.5, 1.0, 0.0)
    assert vector_from_axes({1: -1.0}, JoystickSettings(invert_tilt=True)) == PtzVector(0, -1.0, 0)


def test_settings_are_saved_per_user_and_device(tmp_path: Path) -> None:
    path = tmp_path / "cfg" / "joystick.json"
    store = SettingsStore(path)
    assert store.for_device("Any stick") == JoystickSettings()
    mine = JoystickSettings(dead_zone=0.2, invert_pan=True, buttons={0: "home"})
    store.set_device("Axis T8311", mine)
    again = SettingsStore(path)
    assert again.for_device("Axis T8311") == mine
    assert again.for_device("Other") == JoystickSettings()
    path.write_text("{ not json")
    assert SettingsStore(path).for_device("Axis T8311") == JoystickSettings()  # defaults


def test_each_login_user_has_own_settings_file(tmp_path: Path, monkeypatch) -> None:
    monkeypatch.setenv("TORRAZZO_CONFIG_DIR", str(tmp_path))
    rossi, bianchi = SettingsStore(user="rossi"), SettingsStore(user="bianchi")
    assert rossi.path != bianchi.path
    assert rossi.path.parent == tmp_path
    rossi.set_device("Pelco KBD300A", JoystickSettings(invert_tilt=True))
    assert SettingsStore(user="rossi").for_device("Pelco KBD300A").invert_tilt
    assert not SettingsStore(user="bianchi").for_device("Pelco KBD300A").invert_tilt
    assert settings_path("../etc/passwd").parent == tmp_path  # a name is no path


@pytest.fixture
def joystick(tmp_path: Path) -> Iterator[tuple[JoystickInput, list[str], list[PtzSession | None]]]:
    actions: list[str] = []
    target: list[PtzSession | None] = [None]
    js = JoystickInput(lambda: target[0], actions.append, SettingsStore(tmp_path / "j.json"))
    assert js.open()
    yield js, actions, target
    js.close()


def poll_until(
    js: JoystickInput, cond, timeout: float = 10.0, session: PtzSession | None = None
) -> None:
    deadline = time.monotonic() + timeout
    while not cond():
        assert time.monotonic() < deadline, "condition not met"
        js.poll()
        if session is not None:
            session.tick()
        time.sleep(0.01)


def test_virtual_stick_moves_the_demo_dome(joystick, fleet: Fleet, registry: PtzRegistry) -> None:
    js, actions, target = joystick
    ctl = registry.controller(fleet.site_for_client().camera("dome"))
    ctl.capabilities().result(10)
    session = PtzSession(ctl)
    target[0] = session
    stick = VirtualStick()
    try:
        poll_until(js, lambda: len(js.devices) == 1)  # hot-plug: the stick appeared
        stick.axis(0, 1.0)  # full right
        stick.axis(1, -0.6)  # forward: tilt up
        poll_until(js, lambda: session.wanted.pan == 1.0)
        assert session.wanted.tilt == pytest.approx(shape(0.6, 0.12, 2.0), abs=0.01)
        state = ptz_state(fleet, "dome")
        poll_until(
            js,
            lambda: state.position().pan > 0.05 and state.position().tilt > 0.005,
            session=session,
        )
        # Back to the centre: the dome stops at once.
        stick.axis(0, 0.0)
        stick.axis(1, 0.0)
        poll_until(js, lambda: not session.moving)
        poll_until(js, lambda: state.moving() == (False, False), timeout=5.0)
        # Buttons: presets and navigation.
        stick.button(0, True)
        stick.button(4, True)
        poll_until(js, lambda: len(actions) == 2)
        assert actions == ["preset:1", "next_tile"]
        # Unplugged mid-move: the dome stops.
        stick.axis(2, -1.0)  # zoom in
        poll_until(js, lambda: state.moving()[1], session=session)
    finally:
        stick.detach()
    poll_until(js, lambda: not js.devices)
    poll_until(js, lambda: state.moving() == (False, False), timeout=5.0)


def test_focus_change_stops_the_previous_dome(joystick) -> None:
    js, _actions, target = joystick
    a, b = RecordingPtzController(), RecordingPtzController()
    sa, sb = PtzSession(a), PtzSession(b)
    target[0] = sa
    stick = VirtualStick()
    try:
        poll_until(js, lambda: js.devices)
        stick.axis(0, -1.0)
        poll_until(js, lambda: a.moves == [PtzVector(pan=-1.0)])
        target[0] = sb
        poll_until(js, lambda: b.moves == [PtzVector(pan=-1.0)])
        assert a.moves == [PtzVector(pan=-1.0), PtzVector.ZERO]
    finally:
        stick.detach()
