"""Fixtures for the PTZ tests: one demo fleet and one ONVIF loop per module."""

from __future__ import annotations

import concurrent.futures
from collections.abc import Iterator

import pytest

from app.demo.fleet import Fleet
from app.demo.model import Fault, PtzPosition
from app.onvif.loop import OnvifLoop
from app.ptz.factory import PtzRegistry
from tests.ptz.helpers import FakeClock, start_fleet


@pytest.fixture(scope="module")
def fleet_module() -> Iterator[Fleet]:
    f = start_fleet()
    try:
        yield f
    finally:
        f.stop()


@pytest.fixture
def fleet(fleet_module: Fleet) -> Iterator[Fleet]:
    """The module's fleet; faults cleared and domes stopped and re-centred afterwards."""
    yield fleet_module
    for cam in fleet_module.cameras:
        if cam.fault != Fault.NONE:
            fleet_module.set_fault(cam.id, Fault.NONE)
        for optic in cam.optics:
            if optic.ptz is not None:
                optic.ptz.stop()
                optic.ptz.absolute_move(PtzPosition(), speed=1.0)
                optic.ptz._pos = PtzPosition()  # jump, do not wait for the travel
                optic.ptz._target = None
                optic.ptz.presets.clear()


@pytest.fixture(scope="module")
def onvif_loop() -> Iterator[OnvifLoop]:
    loop = OnvifLoop()
    loop.start()
    try:
        yield loop
    finally:
        loop.stop()


@pytest.fixture
def registry(onvif_loop: OnvifLoop) -> Iterator[PtzRegistry]:
    reg = PtzRegistry(onvif_loop)
    try:
        yield reg
    finally:
        concurrent.futures.wait(reg.close(), timeout=5)


@pytest.fixture
def clock() -> FakeClock:
    return FakeClock()
