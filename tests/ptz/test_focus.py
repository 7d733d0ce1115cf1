"""Imaging focus of one optic's lens: the client and controller against the demo's Imaging
service (real SOAP on 127.0.0.1), asserting the virtual lens's own focus state."""

from __future__ import annotations

import pytest

from app.demo.fleet import Fleet
from app.onvif import OnvifError, OnvifErrorKind
from app.ptz.factory import PtzRegistry
from tests.helpers import wait_for


def _focus(fleet: Fleet, camera: str) -> list[float]:
    return [o.focus for o in fleet.camera(camera).optics]


def test_selected_optic_focus_moves_and_stops(fleet: Fleet, registry: PtzRegistry) -> None:
    quad = fleet.site_for_client().camera("quad")
    ctl = registry.controller(quad, optic=2)
    caps = ctl.focus_capabilities().result(10)
    assert caps.continuous
    assert caps.source_token  # the optic's video source, not a PTZ profile
    before = _focus(fleet, "quad")
    demo = fleet.camera("quad").optics[2]
    start = demo.focus

    assert ctl.focus_move(1.0).result(10)
    # The demo integrates its motor lazily; a status call makes it report the new position.
    wait_for(lambda: ctl.focus_status().result(10).position > start + 0.05, 10, "focus far")
    assert ctl.focus_status().result(10).moving
    assert ctl.focus_stop().result(10)
    status = ctl.focus_status().result(10)
    assert not status.moving
    stopped_at = demo.focus
    assert stopped_at > start
    # Stopped means stopped: another status query finds the lens where it was left.
    assert ctl.focus_status().result(10).position == pytest.approx(stopped_at, abs=1e-4)
    assert demo.focus == pytest.approx(stopped_at, abs=1e-4)
    # Only optic 3's lens moved.
    after = _focus(fleet, "quad")
    assert [after[i] for i in (0, 1, 3)] == [before[i] for i in (0, 1, 3)]

    # Near: a negative speed racks the other way.
    assert ctl.focus_move(-1.0).result(10)
    wait_for(lambda: ctl.focus_status().result(10).position < stopped_at - 0.05, 10, "focus near")
    assert ctl.focus_stop().result(10)
    assert not ctl.focus_status().result(10).moving


def test_fixed_focus_optic_says_not_supported(fleet: Fleet, registry: PtzRegistry) -> None:
    fixed = fleet.site_for_client().camera("fixed")
    ctl = registry.controller(fixed, optic=0)
    with pytest.raises(OnvifError) as info:
        ctl.focus_move(1.0).result(10)
    assert info.value.kind == OnvifErrorKind.NOT_SUPPORTED
