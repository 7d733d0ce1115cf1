"""Tile camera cycles and screen layout cycles on an injected clock; pause on interaction."""

from __future__ import annotations

import pytest

from app.sequences import CameraCycle, Cycler, LayoutCycle, Sequencer, Step


class Clock:
    def __init__(self) -> None:
        self.t = 1000.0

    def __call__(self) -> float:
        return self.t


def test_cycler_steps_every_dwell_and_never_races_when_polled_late() -> None:
    clock = Clock()
    c = Cycler(("a", "b", "c"), 10.0, clock)
    assert c.current == "a"
    clock.t += 9.9
    assert c.poll() is None
    clock.t += 0.1
    assert c.poll() == "b"
    assert c.poll() is None
    clock.t += 10.0
    assert c.poll() == "c"
    clock.t += 100.0  # the GUI was stuck: one step, not ten
    assert c.poll() == "a"
    assert c.poll() is None
    clock.t += 5.0
    assert c.poll() == "b"  # the late step shortened the next dwell to half, not zero


def test_interaction_pauses_every_cycle_of_the_screen_and_it_resumes_after_idle() -> None:
    clock = Clock()
    seq = Sequencer(clock, resume_after_s=30.0)
    seq.set_tile_cycle(0, CameraCycle(("cam1", "cam2"), 5.0))
    seq.set_tile_cycle(3, CameraCycle(("cam7", "cam8", "cam9"), 7.0))
    seq.set_layout_cycle(LayoutCycle(("2x2", "Centro"), 20.0))
    clock.t += 5.0
    assert seq.poll() == [Step("tile", 0, "cam2")]
    clock.t += 2.0
    assert seq.poll() == [Step("tile", 3, "cam8")]
    seq.touch()
    assert seq.paused
    clock.t += 29.0
    assert seq.poll() == []
    clock.t += 1.0  # idle time reached: each item now gets a whole dwell
    assert seq.poll() == []
    assert not seq.paused
    clock.t += 5.0
    assert seq.poll() == [Step("tile", 0, "cam1")]
    clock.t += 2.0
    assert seq.poll() == [Step("tile", 3, "cam9")]
    clock.t += 13.0
    assert Step("layout", "screen", "Centro") in seq.poll()
    assert seq.current_camera(3) == "cam7"  # went round


def test_cycles_validate_and_reconfiguring_keeps_a_running_cycle() -> None:
    with pytest.raises(ValueError, match="at least one"):
        CameraCycle((), 5.0)
    with pytest.raises(ValueError, match="below"):
        LayoutCycle(("a",), 0.2)
    clock = Clock()
    seq = Sequencer(clock)
    seq.set_tile_cycle("t", CameraCycle(("a", "b"), 5.0))
    first = seq.tiles["t"]
    seq.set_tile_cycle("t", CameraCycle(("a", "b"), 5.0))
    assert seq.tiles["t"] is first
    seq.set_tile_cycle("t", None)
    assert seq.tiles == {}
    single = Cycler(("only",), 1.0, clock)
    clock.t += 10
    assert single.poll() is None
