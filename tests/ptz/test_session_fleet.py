"""PtzSession against the demo fleet: direction, Stop on release, rate limit, network cut."""

from __future__ import annotations

import time
from collections.abc import Callable

import pytest

from app.demo.fleet import Fleet
from app.demo.model import Fault
from app.onvif import OnvifError, OnvifErrorKind
from app.ptz.factory import PtzRegistry
from app.ptz.model import PtzVector
from app.ptz.session import PtzSession
from tests.helpers import wait_for
from tests.ptz.helpers import ptz_state

V = PtzVector


def session_for(
    fleet: Fleet, registry: PtzRegistry, camera: str = "dome", move_timeout_s: float = 1.0
) -> PtzSession:
    ctl = registry.controller(fleet.site_for_client().camera(camera))
    ctl.capabilities().result(10)  # connected before timing anything
    return PtzSession(ctl, rate_hz=10, move_timeout_s=move_timeout_s)


def hold(
    session: PtzSession,
    v: V,
    seconds: float,
    until: Callable[[], bool] | None = None,
    timeout: float = 5.0,
    tick: float = 0.01,
) -> None:
    """Hold ``v`` for ``seconds``, and on until ``until()`` holds (at most ``timeout`` s).

    The dome answers after a SOAP round trip, which a loaded machine stretches: a test
    that needs the dome moving says so with ``until`` instead of trusting the clock.
    """
    start = time.monotonic()
    session.request(v)
    while (elapsed := time.monotonic() - start) < seconds or (
        until is not None and not until() and elapsed < timeout
    ):
        time.sleep(tick)
        session.tick()


@pytest.mark.parametrize(
    ("v", "axis", "sign"),
    [
        (V(pan=0.6), "pan", 1),
        (V(pan=-0.6), "pan", -1),
        (V(tilt=0.8), "tilt", 1),
        (V(zoom=1.0), "zoom", 1),
    ],
)
def test_the_dome_moves_in_the_commanded_direction(
    fleet: Fleet, registry: PtzRegistry, v: V, axis: str, sign: int
) -> None:
    session = session_for(fleet, registry)
    state = ptz_state(fleet, "dome")
    start = getattr(state.position(), axis)
    hold(session, v, 0.3, until=lambda: (getattr(state.position(), axis) - start) * sign > 0.03)
    session.release()
    moved = getattr(state.position(), axis) - start
    assert moved * sign > 0.03
    others = {"pan", "tilt", "zoom"} - {axis}
    assert all(abs(getattr(state.position(), a)) < 1e-9 for a in others)


def test_release_stops_the_dome_at_once(fleet: Fleet, registry: PtzRegistry) -> None:
    # A move timeout far beyond the wait: only the Stop can halt the dome in time.
    session = session_for(fleet, registry, move_timeout_s=30.0)
    state = ptz_state(fleet, "dome")
    hold(session, V(pan=1.0), 0.25, until=lambda: state.moving()[0])
    assert state.moving()[0]
    session.release()
    wait_for(lambda: not state.moving()[0], 5.0, "the dome to stop")
    assert session.stops_sent >= 1
    here = state.position().pan
    time.sleep(0.1)
    assert state.position().pan == here


def test_rate_limit_holds_under_an_input_storm(fleet: Fleet, registry: PtzRegistry) -> None:
    session = session_for(fleet, registry)
    state = ptz_state(fleet, "dome")
    before = state.moves
    start = time.monotonic()
    i = 0
    while (now := time.monotonic()) - start < 1.0:
        # 1000 events a second, each a slightly different speed, as from a mouse.
        session.request(V(pan=0.3 + (i % 50) / 100, tilt=-0.1))
        session.tick()
        i += 1
        time.sleep(max(0.0, start + i / 1000 - now))
    session.release()
    wait_for(lambda: not any(state.moving()), 5.0, "the stop")
    wire = state.moves - before
    assert i >= 900
    assert session.moves_sent <= 11
    assert wire <= 12  # ≤ 11 ContinuousMoves + the Stop reached the device
    assert wire == session.moves_sent + session.stops_sent


def test_network_cut_mid_move_leaves_the_dome_stopped_by_its_timeout(
    fleet: Fleet, registry: PtzRegistry
) -> None:
    session = session_for(fleet, registry)
    state = ptz_state(fleet, "dome")
    errors: list[OnvifError] = []
    session.errors.connect(errors.append)
    hold(session, V(pan=0.5), 0.3, until=lambda: state.moving()[0])
    assert state.moving()[0]
    fleet.set_fault("dome", Fault.OFFLINE)  # the camera vanishes: no Stop can reach it
    cut = time.monotonic()
    # The operator keeps holding; re-sends fail.
    end = cut + 1.6
    while time.monotonic() < end and state.moving()[0]:
        time.sleep(0.02)
        session.tick()
    stopped_after = time.monotonic() - cut
    assert not state.moving()[0]
    assert stopped_after <= 1.3  # ≤ the 1 s Timeout of the last move that got through
    session.release()
    wait_for(lambda: errors, 10, "the failure to reach the operator")
    assert errors[0].kind == OnvifErrorKind.UNREACHABLE
