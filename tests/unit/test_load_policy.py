"""LoadPolicy (demotion order, hysteresis, promotion, back-off; injected clock) and TileFeed."""

from __future__ import annotations

import time
from collections.abc import Callable, Hashable
from pathlib import Path

import av
import numpy as np
import pytest

from app.site.model import Camera, CameraKind, Optic, Stream, StreamRole
from app.streams.engine import StreamEngine
from app.streams.feed import TileFeed
from app.streams.load_policy import (
    LoadConfig,
    LoadDecision,
    LoadLevel,
    LoadPolicy,
    LoadReason,
    TileLoad,
)


class Clock:
    def __init__(self) -> None:
        self.t = 1000.0

    def __call__(self) -> float:
        return self.t


class Wall:
    """Tiles whose levels follow the policy's decisions, as TileFeed does."""

    def __init__(self, tiles: list[TileLoad]) -> None:
        self.tiles = {t.key: t for t in tiles}

    def lag(self, ms: float | None, keys: list[Hashable] | None = None) -> None:
        for key, t in self.tiles.items():
            if keys is None or key in keys:
                self.tiles[key] = _with(t, lag_ms=ms)

    def apply(self, decisions: dict[Hashable, LoadDecision]) -> None:
        for key, d in decisions.items():
            t = self.tiles[key]
            role = t.role
            if d.level >= LoadLevel.SUB and t.has_sub:
                role = StreamRole.SUB
            elif d.level == LoadLevel.FULL and t.area > 500_000:
                role = StreamRole.MAIN
            # A decision ends a tile's staged start (as TileFeed.set_load changes its reason).
            self.tiles[key] = _with(
                t, level=d.level, role=role, starting=d.reason == LoadReason.STARTING
            )

    def levels(self) -> dict[Hashable, LoadLevel]:
        return {k: t.level for k, t in self.tiles.items()}

    def step(
        self, policy: LoadPolicy, late_ms: float | None = None
    ) -> dict[Hashable, LoadDecision]:
        decisions = policy.update(list(self.tiles.values()), late_ms)
        self.apply(decisions)
        return decisions


def _with(t: TileLoad, **changes: object) -> TileLoad:
    fields = {f: getattr(t, f) for f in TileLoad.__slots__}
    fields.update(changes)
    return TileLoad(**fields)  # type: ignore[arg-type]


def tile(
    key: Hashable,
    area: int = 50_000,
    *,
    focused: bool = False,
    role: StreamRole = StreamRole.SUB,
    lag: float | None = 20.0,
    has_sub: bool = True,
) -> TileLoad:
    return TileLoad(key, area, focused, LoadLevel.FULL, role, has_sub, lag)


@pytest.fixture
def clock() -> Clock:
    return Clock()


def test_keeping_up_changes_nothing(clock: Clock) -> None:
    policy = LoadPolicy(clock=clock)
    wall = Wall([tile(i) for i in range(16)])
    for _ in range(60):
        assert wall.step(policy, late_ms=3.0) == {}
        clock.t += 1
    assert not policy.overloaded


def test_one_lagging_stream_among_many_is_not_overload(clock: Clock) -> None:
    # One camera behind (its network, most likely) must not degrade the whole wall.
    policy = LoadPolicy(clock=clock)
    wall = Wall([tile(i) for i in range(16)])
    wall.lag(900.0, keys=[3])
    assert wall.step(policy) == {}
    assert not policy.overloaded


def test_main_streams_go_to_sub_first_largest_first_and_focus_is_spared(clock: Clock) -> None:
    policy = LoadPolicy(LoadConfig(step_share=0.25, severe_share=2.0), clock=clock)
    tiles = [
        tile("focus", 2_000_000, focused=True, role=StreamRole.MAIN),
        tile("big", 1_500_000, role=StreamRole.MAIN),
        tile("mid", 800_000, role=StreamRole.MAIN),
        *(tile(i) for i in range(5)),
    ]
    wall = Wall(tiles)
    wall.lag(800.0)
    first = wall.step(policy)
    # 7 candidates x 25 % → 2 tiles; both are the non-focused mains, largest first.
    assert first == {
        "big": LoadDecision(LoadLevel.SUB, LoadReason.DECODE),
        "mid": LoadDecision(LoadLevel.SUB, LoadReason.DECODE),
    }
    assert policy.reason == LoadReason.DECODE
    # Still behind, but too soon for another step: the backlog needs time to drain.
    clock.t += 1.0
    assert wall.step(policy) == {}
    clock.t += 1.5
    second = wall.step(policy)
    # No main streams left but the focused one: now sub streams to key frames, smallest first.
    assert set(second) == {0, 1}
    assert all(d.level == LoadLevel.KEYFRAMES for d in second.values())
    assert wall.levels()["focus"] == LoadLevel.FULL


def test_smallest_sub_streams_first_and_never_beyond_key_frames(clock: Clock) -> None:
    config = LoadConfig(step_share=0.5, demote_every_s=1.0, severe_share=2.0)
    policy = LoadPolicy(config, clock=clock)
    wall = Wall([tile(i, area=10_000 * (i + 1)) for i in range(4)])
    wall.lag(1000.0)
    assert set(wall.step(policy)) == {0, 1}
    clock.t += 1
    assert set(wall.step(policy)) == {2}  # two candidates left: 50 % is one
    clock.t += 1
    assert set(wall.step(policy)) == {3}
    clock.t += 1
    assert wall.step(policy) == {}  # everything is at the bottom already
    assert set(wall.levels().values()) == {LoadLevel.KEYFRAMES}


def test_display_lateness_alone_demotes_with_its_own_reason(clock: Clock) -> None:
    policy = LoadPolicy(clock=clock)
    wall = Wall([tile(i) for i in range(8)])
    decisions = wall.step(policy, late_ms=120.0)
    assert decisions
    assert {d.reason for d in decisions.values()} == {LoadReason.DISPLAY}


def test_hysteresis_no_promotion_between_thresholds(clock: Clock) -> None:
    config = LoadConfig(behind_ms=400, caught_up_ms=150, promote_after_s=10)
    policy = LoadPolicy(config, clock=clock)
    wall = Wall([tile(i) for i in range(4)])
    wall.lag(600.0)
    wall.step(policy)
    # Lag between the two thresholds: neither overloaded nor calm → nothing moves, ever.
    wall.lag(250.0)
    for _ in range(100):
        clock.t += 1
        assert wall.step(policy) == {}


def test_promotes_back_one_at_a_time_most_demoted_and_largest_first(clock: Clock) -> None:
    config = LoadConfig(promote_after_s=10, step_share=1.0)
    policy = LoadPolicy(config, clock=clock)
    wall = Wall([tile("a", 10_000), tile("b", 40_000), tile("c", 20_000)])
    wall.lag(900.0)
    wall.step(policy)  # all three to key frames (100 % step)
    assert set(wall.levels().values()) == {LoadLevel.KEYFRAMES}
    wall.lag(30.0)
    promoted = []
    for _ in range(80):
        clock.t += 1
        promoted += [(k, d.level) for k, d in wall.step(policy).items()]
    # Every 10 s one step; key frames → sub first for all (largest first), then sub → full.
    assert promoted == [
        ("b", LoadLevel.SUB),
        ("c", LoadLevel.SUB),
        ("a", LoadLevel.SUB),
        ("b", LoadLevel.FULL),
        ("c", LoadLevel.FULL),
        ("a", LoadLevel.FULL),
    ]


def test_a_relapse_after_promotion_doubles_the_wait(clock: Clock) -> None:
    config = LoadConfig(promote_after_s=10, relapse_within_s=20, step_share=1.0)
    policy = LoadPolicy(config, clock=clock)
    wall = Wall([tile("a"), tile("b")])
    wall.lag(900.0)
    wall.step(policy)
    wall.lag(30.0)
    calm = 0
    while not wall.step(policy):
        clock.t += 1
        calm += 1
    assert calm == 10  # calm since the first step: promoted after 10 s
    assert policy.promote_wait_s == 10
    # The promotion brought the overload back within 20 s: demote and wait twice as long.
    wall.lag(900.0)
    clock.t += 3
    assert wall.step(policy)
    assert policy.promote_wait_s == 20
    wall.lag(30.0)
    waited = 0
    while not wall.step(policy):
        clock.t += 1
        waited += 1
        assert waited < 100
    assert waited == 20
    # A long calm forgets the relapse.
    for _ in range(200):
        clock.t += 1
        wall.step(policy)
    assert policy.promote_wait_s == 10


def test_a_demoted_tile_that_gets_the_focus_is_restored_at_once(clock: Clock) -> None:
    policy = LoadPolicy(LoadConfig(step_share=1.0), clock=clock)
    wall = Wall([tile("a"), tile("b")])
    wall.lag(900.0)
    wall.step(policy)
    assert wall.levels() == {"a": LoadLevel.KEYFRAMES, "b": LoadLevel.KEYFRAMES}
    wall.tiles["a"] = _with(wall.tiles["a"], focused=True)
    clock.t += 0.5  # still overloaded, and too soon to demote again
    assert wall.step(policy) == {"a": LoadDecision(LoadLevel.FULL, LoadReason.NONE)}


def test_tiles_without_a_picture_are_not_demoted(clock: Clock) -> None:
    policy = LoadPolicy(LoadConfig(step_share=1.0), clock=clock)
    offline = TileLoad("off", 50_000, False, LoadLevel.FULL, None, True, None)
    wall = Wall([tile("a"), offline])
    wall.lag(900.0, keys=["a"])
    assert set(wall.step(policy)) == {"a"}


def test_a_starving_wall_is_demoted_twice_as_fast(clock: Clock) -> None:
    config = LoadConfig(step_share=0.25, severe_share=0.5, display_late_ms=50, severe_factor=3)
    wall = Wall([tile(i) for i in range(16)])
    # A quarter of the streams behind: overload, one step of 25 % of 16.
    wall.lag(900.0, keys=[0, 1, 2, 3])
    assert len(wall.step(LoadPolicy(config, clock=clock))) == 4
    # Half of them behind, or the display clock 3x later than allowed: 50 % in one step.
    wall = Wall([tile(i) for i in range(16)])
    wall.lag(900.0, keys=list(range(8)))
    assert len(wall.step(LoadPolicy(config, clock=clock))) == 8
    wall = Wall([tile(i) for i in range(16)])
    assert len(wall.step(LoadPolicy(config, clock=clock), late_ms=200.0)) == 8


def test_severe_overload_also_steps_twice_as_often(clock: Clock) -> None:
    config = LoadConfig(step_share=0.1, demote_every_s=2.0, severe_share=0.5)
    policy = LoadPolicy(config, clock=clock)
    wall = Wall([tile(i) for i in range(40)])
    wall.lag(900.0)  # every stream behind: severe
    assert wall.step(policy)
    clock.t += 1.0  # half the normal wait
    assert wall.step(policy)


# -- the policy's decisions applied by a real TileFeed on a real StreamEngine ---------------------


def _clip(path: Path, width: int, height: int) -> str:
    """Two seconds of H.264 (25 fps, a key frame a second) written with PyAV."""
    with av.open(str(path), "w") as out:
        stream = out.add_stream("libx264", rate=25)
        stream.width, stream.height, stream.pix_fmt = width, height, "yuv420p"
        stream.options = {"preset": "ultrafast", "g": "25", "bf": "0"}
        for i in range(50):
            img = np.full((height, width, 3), (i * 5) % 255, np.uint8)
            for packet in stream.encode(av.VideoFrame.from_ndarray(img, format="rgb24")):
                out.mux(packet)
        for packet in stream.encode():
            out.mux(packet)
    return str(path)


def _wait_for(feed: TileFeed, condition: Callable[[], bool], seconds: float = 10.0) -> None:
    deadline = time.monotonic() + seconds
    while not condition():
        assert time.monotonic() < deadline, "condition not met in time"
        feed.take_frame()  # what the display clock does; completes a stream switch
        time.sleep(0.02)


def test_tile_feed_demotes_to_sub_then_key_frames_and_back(tmp_path: Path) -> None:
    main = _clip(tmp_path / "main.mp4", 1280, 720)
    sub = _clip(tmp_path / "sub.mp4", 640, 360)
    optic = Optic(0, "lens", (Stream(StreamRole.MAIN, main), Stream(StreamRole.SUB, sub)))
    camera = Camera("c1", "Cam", "n", CameraKind.FIXED_DOME, optics=(optic,))
    engine = StreamEngine()
    try:
        feed = TileFeed(engine)
        feed.set_height(1000)  # a big tile: the main stream
        feed.show(camera)
        _wait_for(feed, lambda: feed.role == StreamRole.MAIN and feed.lag_ms is not None)
        assert feed.has_sub
        feed.set_load(LoadLevel.SUB, LoadReason.DECODE)
        # The sub stream replaces the main one once it delivered a picture (no black gap).
        _wait_for(feed, lambda: feed.role == StreamRole.SUB)
        assert feed.handle is not None
        assert feed.handle.key == sub
        assert engine.open_keys() == [sub]
        feed.set_load(LoadLevel.KEYFRAMES, LoadReason.DECODE)
        worker = engine.worker(sub)
        assert worker is not None
        assert worker.keyframes_only
        # Key frames only: about one picture a second (the clips have a 1 s GOP).
        _wait_for(feed, lambda: worker.stats.snapshot(0).keyframes_only)
        before = worker.stats.frames_decoded
        time.sleep(1.2)
        assert worker.stats.frames_decoded - before <= 3
        feed.set_load(LoadLevel.FULL)
        assert not worker.keyframes_only
        _wait_for(feed, lambda: feed.role == StreamRole.MAIN)
        assert feed.load_reason == LoadReason.NONE
        # A new camera starts undemoted.
        feed.set_load(LoadLevel.SUB, LoadReason.DISPLAY)
        feed.show(None)
        feed.show(camera)
        assert feed.load_level == LoadLevel.FULL
        feed.close()
    finally:
        engine.shutdown(2.0)


def test_has_new_frame_says_whether_take_frame_has_one(tmp_path: Path) -> None:
    """The display pass asks this of every tile before anything else: it must be True
    exactly while a frame is waiting (a real stream, then the slot driven by hand)."""
    import dataclasses

    clip = _clip(tmp_path / "sub.mp4", 640, 360)
    optic = Optic(0, "lens", (Stream(StreamRole.SUB, clip),))
    camera = Camera("c1", "Cam", "n", CameraKind.FIXED_DOME, optics=(optic,))
    engine = StreamEngine()
    feed = TileFeed(engine)
    try:
        assert not feed.has_new_frame()  # nothing shown yet
        feed.show(camera)
        deadline = time.monotonic() + 10
        while not feed.has_new_frame():
            assert time.monotonic() < deadline, "no frame from the clip"
            time.sleep(0.02)
        first = feed.take_frame()
        assert first is not None
    finally:
        engine.shutdown(2.0)  # the decoder stops: from here on only the test fills the slot
    handle = feed.handle
    assert handle is not None
    while feed.take_frame() is not None:  # whatever landed before the stop
        pass
    assert not feed.has_new_frame()
    last = handle.slot.latest()
    assert last is not None
    handle.slot.put(dataclasses.replace(last, seq=last.seq + 1))
    assert feed.has_new_frame()
    taken = feed.take_frame()
    assert taken is not None
    assert taken.seq == last.seq + 1
    assert not feed.has_new_frame()
    feed.close()


# -- staged start of a big wall ---------------------------------------------------------------
def starting_tile(key: Hashable, area: int = 20_000, *, lag: float | None = 20.0) -> TileLoad:
    return TileLoad(key, area, False, LoadLevel.KEYFRAMES, StreamRole.SUB, True, lag, starting=True)


def test_staged_start_admits_a_batch_per_calm_update_largest_first(clock: Clock) -> None:
    policy = LoadPolicy(LoadConfig(start_batch=4), clock=clock)
    tiles = [starting_tile(i, area=10_000 + i) for i in range(10)]
    tiles.append(starting_tile("no picture yet", area=99_999, lag=None))
    wall = Wall(tiles)
    first = wall.step(policy, late_ms=3.0)
    assert set(first) == {9, 8, 7, 6}  # the largest with a picture
    assert all(d == LoadDecision(LoadLevel.FULL, LoadReason.NONE) for d in first.values())
    clock.t += 1
    assert set(wall.step(policy, late_ms=3.0)) == {5, 4, 3, 2}
    clock.t += 1
    assert set(wall.step(policy, late_ms=3.0)) == {1, 0}
    assert wall.tiles["no picture yet"].starting  # admitted only once it shows a picture
    wall.lag(20.0, ["no picture yet"])
    clock.t += 1
    assert set(wall.step(policy, late_ms=3.0)) == {"no picture yet"}
    assert all(level == LoadLevel.FULL for level in wall.levels().values())


def test_staged_start_waits_out_a_busy_start_then_stops_at_the_first_overload(
    clock: Clock,
) -> None:
    policy = LoadPolicy(LoadConfig(start_batch=2), clock=clock)
    wall = Wall([starting_tile(i, area=1000 + i) for i in range(8)])
    # The window and the connections keep the display late at first: nobody is admitted,
    # and nobody is written off yet.
    assert wall.step(policy, late_ms=120.0) == {}
    clock.t += 1
    assert set(wall.step(policy, late_ms=3.0)) == {7, 6}
    clock.t += 1
    # The admissions filled the machine: the rest become ordinary demoted tiles, with why.
    decisions = wall.step(policy, late_ms=120.0)
    assert {k: d.level for k, d in decisions.items() if k in range(6)} == dict.fromkeys(
        range(6), LoadLevel.KEYFRAMES
    )
    assert all(decisions[k].reason == LoadReason.DISPLAY for k in range(6))
    assert not any(t.starting for t in wall.tiles.values())


def test_staged_start_gives_up_waiting_on_a_machine_that_never_has_room(clock: Clock) -> None:
    config = LoadConfig(start_patience_s=10.0)
    policy = LoadPolicy(config, clock=clock)
    wall = Wall([starting_tile(i) for i in range(4)])
    for _ in range(10):
        assert wall.step(policy, late_ms=200.0) == {}
        clock.t += 1
    decisions = wall.step(policy, late_ms=200.0)
    assert set(decisions) == {0, 1, 2, 3}
    assert {d.reason for d in decisions.values()} == {LoadReason.DISPLAY}


def test_a_focused_starting_tile_gets_full_rate_at_once(clock: Clock) -> None:
    policy = LoadPolicy(clock=clock)
    focused = _with(starting_tile("f", lag=None), focused=True)
    wall = Wall([focused, starting_tile("other", lag=None)])
    assert wall.step(policy, late_ms=200.0) == {"f": LoadDecision(LoadLevel.FULL, LoadReason.NONE)}
