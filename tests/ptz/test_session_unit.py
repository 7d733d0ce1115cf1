"""PtzSession, TourRunner and the aiming maths with a fake clock and a recording controller."""

from __future__ import annotations

import math
from dataclasses import replace

import pytest

from app.onvif.errors import OnvifError, OnvifErrorKind
from app.onvif.model import PtzStatus
from app.ptz.model import PtzVector
from app.ptz.pointing import FovModel, aim, plan_aim
from app.ptz.session import PtzSession
from app.ptz.tour import Tour, TourRunner, TourStep, tours_from_json, tours_to_json
from tests.ptz.helpers import CAPS, FakeClock, RecordingPtzController

V = PtzVector


def test_first_request_goes_out_at_once_with_a_timeout(clock: FakeClock) -> None:
    ptz = RecordingPtzController()
    session = PtzSession(ptz, clock=clock, rate_hz=10, move_timeout_s=1.0)
    session.request(V(pan=0.8))
    assert ptz.moves == [V(pan=0.8)]
    assert ("timeout", 1.0) in ptz.calls
    assert session.moving


def test_release_sends_stop_immediately(clock: FakeClock) -> None:
    ptz = RecordingPtzController()
    session = PtzSession(ptz, clock=clock, rate_hz=10)
    session.request(V(pan=0.8))
    session.tick()
    session.release()  # same instant: a stop skips the rate limit
    assert ptz.moves == [V(pan=0.8), V.ZERO]
    assert not session.moving
    session.tick()
    clock.advance(5)
    session.tick()
    assert ptz.moves == [V(pan=0.8), V.ZERO]  # nothing after the stop


def test_storm_is_coalesced_last_write_wins(clock: FakeClock) -> None:
    ptz = RecordingPtzController()
    session = PtzSession(ptz, clock=clock, rate_hz=10)
    # 1000 input events in one second, a tick every 10 ms.
    for i in range(1000):
        session.request(V(pan=((i % 200) - 100) / 100.0 or 0.5, tilt=0.3))
        if i % 10 == 9:
            session.tick()
        clock.advance(0.001)
    moves = ptz.moves
    assert 10 <= len(moves) <= 11
    # The last one sent within the second is the newest at its time, not an old one.
    session.request(V(pan=-0.25, tilt=0.3))
    clock.advance(0.1)
    session.tick()
    assert ptz.moves[-1] == V(pan=-0.25, tilt=0.3)


def test_change_waits_for_the_rate_limit_then_goes_on_tick(clock: FakeClock) -> None:
    ptz = RecordingPtzController()
    session = PtzSession(ptz, clock=clock, rate_hz=10)
    session.request(V(pan=0.5))
    clock.advance(0.03)
    session.request(V(pan=0.6))
    session.request(V(pan=0.7))
    assert ptz.moves == [V(pan=0.5)]
    clock.advance(0.05)
    session.tick()
    assert ptz.moves == [V(pan=0.5)]
    clock.advance(0.02)
    session.tick()
    assert ptz.moves == [V(pan=0.5), V(pan=0.7)]


def test_held_speed_is_resent_before_its_timeout(clock: FakeClock) -> None:
    ptz = RecordingPtzController()
    session = PtzSession(ptz, clock=clock, rate_hz=10, move_timeout_s=1.0)
    session.request(V(tilt=-0.4))
    for _ in range(100):  # 2 s of ticks every 20 ms
        clock.advance(0.02)
        session.tick()
    moves = ptz.moves
    assert moves == [V(tilt=-0.4)] * len(moves)
    assert 4 <= len(moves) <= 5  # every 0.5 s: never a gap as long as the 1 s timeout


def test_same_speed_is_not_resent_and_jitter_is_ignored(clock: FakeClock) -> None:
    ptz = RecordingPtzController()
    session = PtzSession(ptz, clock=clock, rate_hz=10)
    session.request(V(pan=0.5))
    clock.advance(0.2)
    session.request(V(pan=0.501))
    session.tick()
    assert ptz.moves == [V(pan=0.5)]


def test_stop_without_motion_sends_nothing_and_close_ends_input(clock: FakeClock) -> None:
    ptz = RecordingPtzController()
    session = PtzSession(ptz, clock=clock)
    session.stop()
    session.release()
    assert ptz.moves == []
    session.request(V(zoom=1.0))
    session.close()
    session.request(V(zoom=1.0))
    clock.advance(1)
    session.tick()
    assert ptz.moves == [V(zoom=1.0), V.ZERO]


def test_zero_request_is_a_release_and_speeds_are_clamped(clock: FakeClock) -> None:
    ptz = RecordingPtzController()
    session = PtzSession(ptz, clock=clock)
    session.request(V(pan=3.0, tilt=-2.0))
    session.request(V.ZERO)
    assert ptz.moves == [V(pan=1.0, tilt=-1.0), V.ZERO]


def test_errors_reach_the_operator(clock: FakeClock) -> None:
    err = OnvifError(OnvifErrorKind.UNREACHABLE, "ContinuousMove: unreachable (connection refused)")
    ptz = RecordingPtzController(fail=err)
    session = PtzSession(ptz, clock=clock)
    seen: list[OnvifError] = []
    session.errors.connect(seen.append)
    session.request(V(pan=1.0))
    assert seen == [err]
    assert session.last_error is err
    ptz.fail = RuntimeError("boom")
    session.release()
    assert seen[-1].kind == OnvifErrorKind.DEVICE
    assert "boom" in seen[-1].message


# --- tours ------------------------------------------------------------------------------------


def test_tour_visits_presets_with_dwell_and_repeats(clock: FakeClock) -> None:
    ptz = RecordingPtzController()
    tour = Tour("giro", (TourStep("1", 5.0), TourStep("3", 2.0)))
    runner = TourRunner(ptz, tour, clock)
    runner.start()
    visited = lambda: [a for k, a in ptz.calls if k == "preset"]  # noqa: E731
    assert visited() == ["1"]
    clock.advance(4.9)
    runner.tick()
    assert visited() == ["1"]
    clock.advance(0.1)
    runner.tick()
    assert visited() == ["1", "3"]
    clock.advance(2.0)
    runner.tick()
    assert visited() == ["1", "3", "1"]
    assert runner.index == 0
    assert runner.running


def test_tour_without_repeat_finishes(clock: FakeClock) -> None:
    ptz = RecordingPtzController()
    runner = TourRunner(ptz, Tour("once", (TourStep("1", 1.0),), repeat=False), clock)
    reasons: list[str] = []
    runner.stopped.connect(reasons.append)
    runner.start()
    clock.advance(1.0)
    runner.tick()
    assert reasons == ["finished"]
    assert not runner.running


def test_manual_input_stops_the_tour(clock: FakeClock) -> None:
    ptz = RecordingPtzController()
    session = PtzSession(ptz, clock=clock)
    runner = TourRunner(ptz, Tour("giro", (TourStep("1", 1.0), TourStep("2", 1.0))), clock)
    runner.stop_on_input_of(session)
    reasons: list[str] = []
    runner.stopped.connect(reasons.append)
    runner.start()
    session.request(V(pan=0.2))
    assert not runner.running
    assert reasons == ["manual input"]
    clock.advance(10)
    runner.tick()
    assert [a for k, a in ptz.calls if k == "preset"] == ["1"]


def test_tour_validation_and_json_round_trip() -> None:
    with pytest.raises(ValueError, match="no steps"):
        Tour("empty", ())
    with pytest.raises(ValueError, match="dwell"):
        Tour("bad", (TourStep("1", 0.0),))
    tours = [Tour("a", (TourStep("1", 3.0), TourStep("2", 4.5)), repeat=False)]
    assert tours_from_json(tours_to_json(tours)) == tours


# --- aiming -----------------------------------------------------------------------------------


def test_click_right_of_centre_pans_by_the_field_of_view() -> None:
    fov = FovModel(hfov_wide_deg=60.0, zoom_ratio=20.0)
    here = PtzStatus(0.1, 0.0, 0.0, False, False)
    plan = plan_aim(CAPS, here, fov, dx=0.25, dy=-0.25, aspect=9 / 16)
    assert plan.relative is not None
    # A quarter of a 60 degree picture is 15 degrees; pan 1 = 180 degrees.
    assert plan.relative.pan == pytest.approx(15 / 180)
    assert plan.relative.tilt > 0  # above the centre: tilt up
    assert plan.relative.zoom == 0.0
    # Zoomed in, the same click is a smaller turn.
    zoomed = plan_aim(CAPS, PtzStatus(0, 0, 1.0, False, False), fov, 0.25, 0, 9 / 16)
    assert zoomed.relative is not None
    assert zoomed.relative.pan == pytest.approx(15 / 180 / 20)


def test_area_zoom_and_absolute_fallback() -> None:
    fov = FovModel(hfov_wide_deg=60.0, zoom_ratio=16.0)
    no_relative = replace(CAPS, relative=False)
    here = PtzStatus(0.95, 0.0, 0.25, False, False)
    plan = plan_aim(no_relative, here, fov, dx=0.5, dy=0.0, aspect=0.5, magnification=4.0)
    assert plan.absolute is not None
    pan, tilt, zoom = plan.absolute
    step = 0.5 * fov.hfov(0.25) / 180
    assert pan == pytest.approx(0.95 + step - 2.0)  # endless pan wraps around
    assert zoom == pytest.approx(0.25 + math.log(4) / math.log(16))
    assert tilt == 0.0


def test_aim_sends_the_planned_move() -> None:
    ptz = RecordingPtzController(position=PtzStatus(0.0, 0.0, 0.0, False, False))
    assert aim(ptz, FovModel(), 0.5, 0.0, 9 / 16).result(1) is True
    ((kind, v),) = [c for c in ptz.calls if c[0] in ("relative", "absolute")]
    assert kind == "relative"
    assert v.pan == pytest.approx(30 / 180)
