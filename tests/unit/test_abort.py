"""The read aborter finds PyAV's timeout_info only where the layout is the one PyAV declares."""

from __future__ import annotations

import ctypes
import time

import av
import pytest

from app.streams import abort


@pytest.fixture
def lavfi() -> str:
    return "testsrc=size=64x48:rate=5"


def test_read_aborter_found_on_an_unguarded_container(lavfi: str) -> None:
    with av.open(lavfi, format="lavfi", timeout=(10.0, None)) as container:
        arm = abort.read_aborter(container)
        assert arm is not None
        # The struct's timeout field is the -1.0 of "no guard" until armed, then 0.0: the
        # callback then compares the clock with it (and FFmpeg gives up at its next check).
        offsets = abort._guard_offsets[type(container)]
        assert offsets is not None
        offset = offsets[1]
        start = ctypes.c_double.from_address(id(container) + offset)
        field = ctypes.c_double.from_address(id(container) + offset + 8)
        assert 0 < start.value <= time.monotonic()  # stamped by PyAV from the clock
        assert field.value == -1.0
        arm()
        assert field.value == 0.0


def test_no_aborter_for_a_container_with_its_own_read_guard(lavfi: str) -> None:
    with av.open(lavfi, format="lavfi", timeout=(10.0, 60.0)) as container:
        assert abort.read_aborter(container) is None


def test_no_aborter_without_an_interrupt_callback(lavfi: str) -> None:
    with av.open(lavfi, format="lavfi") as container:
        assert abort.read_aborter(container) is None
