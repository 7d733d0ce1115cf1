"""StreamWorker's status rules, driven directly: backoff, stalls, recovery; engine forwarding."""

from __future__ import annotations

import random
import time

import av

from app.streams.engine import StreamEngine
from app.streams.status import StreamState, StreamStatus
from app.streams.worker import StreamOptions, StreamWorker, backoff_delay

OPTIONS = StreamOptions(stall_after=3.0, backoff_initial=0.5, backoff_max=30.0)


def test_backoff_stays_capped_after_a_night_of_failures() -> None:
    rng = random.Random(1)
    # Attempt 1024 (~6 h of 22 s retries) overflowed 2**attempt as a float: the thread died.
    for attempt in (0, 1, 10, 1023, 1024, 10**6):
        delay = backoff_delay(attempt, OPTIONS, rng)
        assert 0 < delay <= OPTIONS.backoff_max
    assert backoff_delay(10**6, OPTIONS, rng) >= OPTIONS.backoff_max / 2


def _connected_worker(now: float) -> StreamWorker:
    """A worker as its thread leaves it on a connection opened at ``now`` (no thread runs)."""
    worker = StreamWorker("rtsp://127.0.0.1:1/x", options=OPTIONS)
    worker._connected = True
    worker._connected_at = now
    return worker


def _picture(worker: StreamWorker) -> None:
    frame = av.VideoFrame(64, 36, "yuv420p")
    worker._deliver(frame, 1.0, None, worker._connected_at)


def test_stalled_needs_two_pictures_to_be_live_again() -> None:
    now = time.monotonic()
    worker = _connected_worker(now - 10)
    _picture(worker)
    assert worker.status.state == StreamState.LIVE
    worker.check_stall(time.monotonic() + OPTIONS.stall_after + 1)
    assert worker.status.state == StreamState.STALLED
    # One late picture (FFmpeg's held-back frame of a frozen camera) is not recovery ...
    _picture(worker)
    assert worker.status.state == StreamState.STALLED
    # ... pictures flowing again are, however far apart (key frames only, long GOPs).
    _picture(worker)
    assert worker.status.state == StreamState.LIVE


def test_a_new_connection_is_not_stalled_by_the_last_ones_picture() -> None:
    now = time.monotonic()
    worker = _connected_worker(now - 60)
    _picture(worker)  # the previous connection's last picture, a minute ago
    worker.stats.last_frame_at = now - 50
    # Reconnected just now, no picture yet on this connection.
    worker._connected_at = now
    worker._set_status(StreamStatus.now(StreamState.CONNECTING))
    worker.check_stall(now + 1)
    assert worker.status.state == StreamState.CONNECTING
    _picture(worker)
    assert worker.status.state == StreamState.LIVE  # the first picture of a connection
    worker.check_stall(time.monotonic() + OPTIONS.stall_after + 1)
    assert worker.status.state == StreamState.STALLED


def test_a_released_worker_does_not_speak_for_its_successor() -> None:
    engine = StreamEngine(OPTIONS)
    seen: list[tuple[str, StreamState]] = []
    engine.status_changed.connect(lambda key, status: seen.append((key, status.state)))
    url = "rtsp://127.0.0.1:1/nobody-listens"
    try:
        old = engine.open(url)
        engine.release(old)
        assert old.worker.join(5)
        # Released, nobody reopened it: its last words still count.
        seen.clear()
        old.worker.status_changed.emit(StreamStatus.now(StreamState.IDLE, "stopped"))
        assert seen == [(url, StreamState.IDLE)]
        new = engine.open(url)
        assert new.worker is not old.worker
        seen.clear()
        # Reopened: a late status of the old worker (its final "stopped") is not the stream's.
        old.worker.status_changed.emit(StreamStatus.now(StreamState.IDLE, "stopped"))
        assert (url, StreamState.IDLE) not in seen
        new.worker.status_changed.emit(StreamStatus.now(StreamState.LIVE))
        assert (url, StreamState.LIVE) in seen
    finally:
        engine.shutdown(2.0)
