"""The wall's display clock woken by decoders, and a big wall's staged start with its badges."""

from __future__ import annotations

import threading
import time
from pathlib import Path

import numpy as np
import pytest
from PySide6.QtGui import QColor, QImage, QPainter

from app.health import StatusBoard
from app.layouts import ops
from app.layouts.store import WallModel, load_wall_state
from app.site.loader import load_site
from app.site.model import Site
from app.streams.engine import StreamEngine
from app.streams.feed import TileFeed
from app.streams.frames import FrameSlot, PixelFormat, VideoFrame
from app.streams.load_policy import LoadConfig, LoadLevel, LoadPolicy, LoadReason
from widgets.bridge import MainThreadBridge
from widgets.tile import compose_budget
from widgets.wall import DISPLAY_INTERVAL_MS, LAYOUT_GRACE_S, STAGED_START_ABOVE, QtWall


class SlotFeed(TileFeed):
    """A TileFeed whose decoder is the test: frames come from a FrameSlot the test fills
    from its own thread, as a StreamWorker would. Everything after the slot is the real
    wall: the wake-up, the display clock, the tile, the raster surface."""

    def __init__(self, engine: StreamEngine, slot: FrameSlot) -> None:
        super().__init__(engine)
        self.slot = slot
        self.taken = 0

    def _reconcile(self) -> None:  # no stream to open: the test is the decoder
        pass

    def has_new_frame(self) -> bool:
        return self.camera is not None and self.slot.seq > self._last_seq

    def take_frame(self) -> VideoFrame | None:
        if self.camera is None:
            return None
        frame = self.slot.latest(self._last_seq)
        if frame is not None:
            self._last_seq = frame.seq
            self.taken += 1
        return frame

    @property
    def lag_ms(self) -> float | None:
        return 5.0 if self.taken else None  # a picture arrived and keeps up


class SlotWall(QtWall):
    def __init__(self, slot: FrameSlot, *args: object) -> None:
        self._slot = slot
        super().__init__(*args)  # type: ignore[arg-type]

    def _new_feed(self) -> TileFeed:
        feed = SlotFeed(self._engine, self._slot)
        feed.start_keyframes = self._start_keyframes
        return feed


def _site(tmp_path: Path, cameras: int) -> Site:
    lines = ["schema_version: 1", "name: clock test", "neighbourhoods:", "  - id: n", "    name: N"]
    lines.append("cameras:")
    for i in range(cameras):
        lines += [
            f"  - id: c{i:02d}",
            f"    name: Camera {i}",
            "    neighbourhood: n",
            "    kind: fixed-dome",
            "    streams:",
            f"      main: rtsp://127.0.0.1:9/c{i:02d}",
        ]
    path = tmp_path / "site.yaml"
    path.write_text("\n".join(lines) + "\n")
    return load_site(path)


def _frame(seq: int) -> VideoFrame:
    data = np.full((36, 64, 4), 200, dtype=np.uint8)
    return VideoFrame(seq, 64, 36, PixelFormat.BGRA, data, 64, 36, 0.0)


@pytest.fixture
def wall_for(qtbot, tmp_path: Path):
    engine = StreamEngine()
    walls: list[QtWall] = []

    def make(cameras: int, layout: str) -> tuple[SlotWall, FrameSlot]:
        site = _site(tmp_path, cameras)
        model = WallModel(load_wall_state(tmp_path / "wall.json"), [c.id for c in site.cameras])
        model.set_layout(layout)
        slot = FrameSlot()
        wall = SlotWall(slot, model, site, engine, StatusBoard(engine), MainThreadBridge())
        qtbot.addWidget(wall)
        wall.resize(1000, 700)
        wall.show()
        qtbot.waitExposed(wall)
        walls.append(wall)
        return wall, slot

    yield make
    for wall in walls:
        wall.close_feeds()
    assert engine.shutdown(2.0) == []


def test_every_frame_is_presented_with_no_timer_polling(qtbot, wall_for) -> None:
    """Frames put one at a time from a decode thread each wake the clock and are shown.

    A lost wake-up (a frame landing between the clock's check and its re-arm) would leave
    a frame unshown and the producer waiting: the test would time out. No periodic timer
    runs: at most a wake-up pass and one follow-up pass per frame.
    """
    wall, slot = wall_for(1, "1x1")
    surface = wall.tiles[0].panes[0].surface
    count = 40
    shown: list[int] = []
    events = [threading.Event() for _ in range(count + 1)]

    def on_presented(seq: int, _t: float) -> None:
        shown.append(seq)
        events[seq].set()

    surface.frame_presented.connect(on_presented)
    ticks0 = wall.ticks
    failures: list[str] = []

    def produce() -> None:
        for seq in range(1, count + 1):
            slot.put(_frame(seq))
            if not events[seq].wait(30.0):
                failures.append(f"frame {seq} was never presented")
                return

    producer = threading.Thread(target=produce, name="test-decoder")
    producer.start()
    qtbot.waitUntil(lambda: not producer.is_alive(), timeout=120_000)
    assert failures == []
    assert shown == list(range(1, count + 1))
    assert slot.replaced == 0
    assert wall.ticks - ticks0 <= 3 * count + 3


def test_a_busy_gui_thread_never_blocks_the_decoder_and_wake_ups_coalesce(qtbot, wall_for) -> None:
    wall, slot = wall_for(1, "1x1")
    surface = wall.tiles[0].panes[0].surface
    qtbot.waitUntil(lambda: wall.tiles[0].camera is not None)
    ticks0, presented0 = wall.ticks, surface.presented

    def produce() -> None:
        for seq in range(1, 201):
            slot.put(_frame(seq))

    producer = threading.Thread(target=produce, name="test-decoder")
    producer.start()
    # The GUI thread is blocked here, processing no events: the decoder must not wait on it.
    producer.join(60.0)
    assert not producer.is_alive()
    qtbot.waitUntil(lambda: surface.last_presented_seq == 200, timeout=30_000)
    assert surface.presented == presented0 + 1  # only the newest picture is shown
    assert slot.replaced == 199
    assert wall.ticks - ticks0 <= 3  # one coalesced wake-up, not one per frame


def test_a_dense_wall_polls_on_its_timer_and_is_not_taken_for_stalled(qtbot, wall_for) -> None:
    """Frames coming more often than every 2 intervals switch the clock to its timer; the
    load policy's stall measure then counts from the timer's due time, not from the last
    wake-up (which may be long past: a busy wall sends none while the timer runs)."""
    wall, slot = wall_for(1, "1x1")
    qtbot.waitUntil(lambda: wall.tiles[0].camera is not None)
    t0 = time.monotonic() - 100.0  # passes "long after" the wake-ups: the clock is ours
    slot.put(_frame(1))
    wall._display_pass(t0, t0)
    slot.put(_frame(2))
    wall._display_pass(t0 + 0.005, t0 + 0.005)  # 5 ms after the last pass: dense
    assert wall._timer.isActive()
    due = t0 + 0.005 + DISPLAY_INTERVAL_MS / 1000
    assert wall.display_stall_ms(due + 0.004) == pytest.approx(4.0, abs=0.5)
    wall._timer.stop()
    wall._display_pass(t0 + 1.0, t0 + 1.0)  # nothing new: asleep until the next frame
    assert not wall._timer.isActive()
    assert wall.display_stall_ms(t0 + 2.0) == 0.0


def _has_amber(image, width: int, height: int) -> bool:
    amber = QColor(215, 140, 0)
    for y in range(0, height, 2):
        for x in range(0, width, 2):
            c = image.pixelColor(x, y)
            red, green = abs(c.red() - amber.red()), abs(c.green() - amber.green())
            if red < 20 and green < 20 and c.blue() < 40:
                return True
    return False


def test_a_big_wall_starts_on_key_frames_with_a_badge_and_admits_every_tile(
    qtbot, wall_for
) -> None:
    wall, slot = wall_for(25, "5x5")
    assert STAGED_START_ABOVE < 25
    focused = wall.model.layout.focused
    others = [t for t in wall.tiles if t.index != focused]
    assert all(t.feed.load_level == LoadLevel.KEYFRAMES for t in others)
    assert all(t.feed.load_reason == LoadReason.STARTING for t in others)
    assert wall.tiles[focused].feed.load_level == LoadLevel.FULL
    # The amber badge says so, top left of every starting tile (and not on the focused one).
    tile = others[0]
    image = tile.overlay.cached_image()
    assert _has_amber(image, image.width() // 2, image.height() // 2)
    image = wall.tiles[focused].overlay.cached_image()
    assert not _has_amber(image, image.width() // 2, image.height() // 2)

    # Pictures arrive; a policy that never sees overload (the test machine's load must not
    # decide this test) admits them a batch per update until every tile runs at full rate.
    wall.load_policy = LoadPolicy(LoadConfig(display_late_ms=1e9, behind_ms=1e9, start_batch=4))
    slot.put(_frame(1))
    qtbot.waitUntil(lambda: all(t.feed.taken for t in wall.tiles), timeout=30_000)
    updates = 0
    while any(t.feed.load_level != LoadLevel.FULL for t in wall.tiles) and updates < 20:
        wall._apply_load_policy()
        updates += 1
    assert all(t.feed.load_level == LoadLevel.FULL for t in wall.tiles)
    assert all(t.feed.load_reason == LoadReason.NONE for t in wall.tiles)
    assert updates == 6  # 24 starting tiles, 4 per update
    image = tile.overlay.cached_image()
    assert not _has_amber(image, image.width() // 2, image.height() // 2)


def test_a_small_wall_starts_at_full_rate(qtbot, wall_for) -> None:
    wall, _slot = wall_for(16, "4x4")
    assert all(t.feed.load_level == LoadLevel.FULL for t in wall.tiles)
    assert all(t.feed.load_reason == LoadReason.NONE for t in wall.tiles)


def test_picture_only_repaints_keep_the_overlay_over_the_picture(qtbot, wall_for) -> None:
    """After the first frame a tile repaints only its picture; what lies beside the picture
    (black bars, the overlay's name bar) stays as first painted, in the backing store."""
    wall, slot = wall_for(1, "1x1")
    tile = wall.tiles[0]
    surface = tile.panes[0].surface
    qtbot.waitUntil(lambda: tile.camera is not None)
    # A source as wide as the tile and much flatter: black bars above and below the picture,
    # and the overlay's top bar (name) partly over the bar, not the picture.
    shown: list[int] = []
    surface.frame_presented.connect(lambda seq, _t: shown.append(seq))
    src_w, src_h = surface.width(), surface.height() // 3

    def frame(seq: int, value: int) -> VideoFrame:
        data = np.full((src_h, src_w, 4), value, dtype=np.uint8)
        return VideoFrame(seq, src_w, src_h, PixelFormat.BGRA, data, src_w, src_h, 0.0)

    for seq in range(1, 6):
        slot.put(frame(seq, 40 * seq))
        qtbot.waitUntil(lambda s=seq: s in shown, timeout=30_000)
    assert surface._blit_rect.height() < surface.height()  # the picture-only path ran
    image = wall.screen().grabWindow(wall.winId()).toImage()
    origin = surface.mapTo(wall, surface.rect().topLeft())
    middle = image.pixelColor(origin.x() + surface.width() // 2, origin.y() + surface.height() // 2)
    assert abs(middle.red() - 200) <= 2  # the newest picture
    top = image.pixelColor(origin.x() + surface.width() // 2, origin.y() + 2)
    assert top.red() < 40  # the black bar above the picture, painted once, still there
    # The camera's name (the overlay's top bar, over the black bar here) was drawn with the
    # first full paint and is kept: light text pixels in the tile's top rows.
    brightest = max(
        image.pixelColor(origin.x() + x, origin.y() + y).red()
        for x in range(0, min(200, surface.width()))
        for y in range(0, 16)
    )
    assert brightest > 150


def test_a_wall_needing_every_overlay_at_once_shows_pictures_first(
    qtbot, wall_for, monkeypatch
) -> None:
    """When every tile's overlays must be composed again at once (a wall's first paint, its
    streams going live together), the pictures are shown first and the overlays follow, a
    budget's worth per turn of the event loop: none is lost and no frame waits for them."""
    wall, slot = wall_for(16, "4x4")
    qtbot.waitUntil(lambda: all(t.camera is not None for t in wall.tiles))
    qtbot.waitUntil(lambda: compose_budget.pending == 0 and all(_composed(wall)))
    # A budget of nothing: each turn composes one tile, so 16 turns bring all of them.
    monkeypatch.setattr(compose_budget, "seconds", 0.0)
    composed_when_shown: list[int] = []
    for tile in wall.tiles:
        surface = tile.panes[0].surface
        surface.frame_presented.connect(
            lambda _seq, _t: composed_when_shown.append(sum(_composed(wall)))
        )
    deferred0 = compose_budget.deferred
    for tile in wall.tiles:
        tile.update_overlays()
    slot.put(_frame(1))
    qtbot.waitUntil(lambda: len(composed_when_shown) >= 16, timeout=30_000)
    qtbot.waitUntil(lambda: all(_composed(wall)) and compose_budget.pending == 0, timeout=30_000)
    assert compose_budget.deferred - deferred0 >= 8  # put off, not composed in the paint
    # Pictures did not wait for the overlays: they were shown while most were pending.
    assert min(composed_when_shown) < 8
    assert all(t.panes[0].surface.presented >= 1 for t in wall.tiles)


def test_a_tile_waiting_for_the_budget_keeps_its_previous_overlay(
    qtbot, wall_for, monkeypatch
) -> None:
    wall, _slot = wall_for(1, "1x1")
    tile = wall.tiles[0]
    qtbot.waitUntil(lambda: tile.camera is not None and all(_composed(wall)))
    pane = tile.panes[0]
    size = pane.surface.size()

    def overlay_pixels() -> int:
        image = QImage(size, QImage.Format.Format_ARGB32_Premultiplied)
        image.fill(0)
        p = QPainter(image)
        tile.paint_overlays(p, pane)
        p.end()
        raw = np.frombuffer(image.constBits(), np.uint8, count=image.sizeInBytes())
        return int((raw.reshape(-1, 4)[:, 3] > 0).sum())

    drawn = overlay_pixels()
    assert drawn > 0  # the name bar and the badge
    monkeypatch.setattr(compose_budget, "seconds", 0.0)
    tile.update_overlays()
    assert not tile.overlays_composed
    assert overlay_pixels() == drawn  # the previous overlay, while the new one waits
    assert not tile.overlays_composed
    qtbot.waitUntil(lambda: tile.overlays_composed, timeout=30_000)


def _composed(wall: QtWall) -> list[bool]:
    return [t.overlays_composed for t in wall.tiles]


def test_the_stall_of_a_layout_change_is_not_taken_for_overload(qtbot, wall_for) -> None:
    """Building a new layout keeps the GUI thread busy for a moment and the display pass
    after it runs late; with the new streams waiting for key frames, that pass alone made
    the second's p95 and a layout switch demoted every tile. Only later lateness counts.
    (The demotion itself is LoadPolicy's, tested with real feeds in tests/unit.)"""
    wall, slot = wall_for(16, "4x4")
    qtbot.waitUntil(lambda: all(t.camera is not None for t in wall.tiles))
    # Only the display criterion decides (the streams' lag never says overload here).
    wall.load_policy = LoadPolicy(LoadConfig(behind_ms=1e9))

    def late_pass(seq: int) -> None:
        slot.put(_frame(seq))
        now = time.monotonic()
        wall._display_pass(now, now - 0.120)  # 120 ms late

    wall.model.apply(lambda lay: ops.focus(lay, 1))  # a layout change: the grace starts
    late_pass(1)
    wall._apply_load_policy()
    assert not wall.load_policy.overloaded
    # The same late pass once the grace is over is overload: the display is late.
    wall._layout_changed_at = time.monotonic() - LAYOUT_GRACE_S - 0.1
    late_pass(2)
    wall._apply_load_policy()
    assert wall.load_policy.overloaded
    assert wall.load_policy.reason == LoadReason.DISPLAY
