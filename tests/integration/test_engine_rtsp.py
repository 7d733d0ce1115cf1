"""The stream engine against a real RTSP server: frames, statuses, reconnection, shutdown."""

from __future__ import annotations

import threading
import time
from dataclasses import replace

import pytest

from app.site.model import CredentialRef, Stream, StreamRole
from app.streams.engine import StreamEngine
from app.streams.frames import FrameRequest, PixelFormat
from app.streams.status import StreamState, StreamStatus
from app.streams.urls import open_url
from app.streams.worker import StreamOptions
from tests.helpers import wait_for

FAST = StreamOptions(timeout=2.0, stall_after=1.0, backoff_initial=0.2, backoff_max=1.0)


@pytest.fixture
def engine():
    eng = StreamEngine(FAST, url_resolver=open_url)
    yield eng
    eng.shutdown(2.0)


def test_frames_arrive_with_stats_and_latency(engine: StreamEngine, rtsp_server) -> None:
    handle = engine.open(rtsp_server.url("/cam1/sub"))
    engine.set_request(handle, FrameRequest(PixelFormat.BGRA, 320, 180))
    frame = wait_for(lambda: handle.slot.latest(), 10, "a first frame")
    assert handle.status.state == StreamState.LIVE
    assert (frame.width, frame.height, frame.format) == (320, 180, PixelFormat.BGRA)
    assert (frame.source_width, frame.source_height) == (640, 360)
    # 60 frames: fps is counted over the last 2 s, a window the first 30 may not fill.
    wait_for(lambda: handle.stats().frames_decoded >= 60, 10, "60 frames")
    st = handle.stats()
    assert st.codec == "h264"
    assert 15 <= st.fps <= 35
    assert st.bitrate_kbps > 0
    assert st.latency_ms_median is not None
    assert 0 < st.latency_ms_median < 1000
    assert st.time_to_first_frame_ms is not None
    # Decoding takes measurable time; the newest frame is fresh on a live 25 fps stream
    # (generous bound: a loaded CI machine may lag, a frozen stream would be seconds old).
    assert st.decode_ms > 0
    assert st.last_frame_age is not None
    assert 0 <= st.last_frame_age < 1.5
    assert st.frames_lost >= 0
    assert st.frames_replaced >= 0


def test_yuv_request_and_h265(engine: StreamEngine, rtsp_server) -> None:
    handle = engine.open(rtsp_server.url("/h265/main"))
    engine.set_request(handle, FrameRequest(PixelFormat.YUV420P))
    frame = wait_for(lambda: handle.slot.latest(), 15, "an H.265 frame")
    assert frame.format == PixelFormat.YUV420P
    assert frame.data.shape == (720 * 3 // 2, 1280)
    assert handle.stats().codec == "hevc"


def test_udp_transport(engine: StreamEngine, rtsp_server) -> None:
    handle = engine.open(Stream(StreamRole.SUB, rtsp_server.url("/cam2/sub"), transport="udp"))
    wait_for(lambda: handle.slot.latest(), 10, "a frame over UDP")
    assert handle.worker.options.transport == "udp"


def test_server_stopped_goes_offline_then_live_again_by_itself(rtsp_server_private) -> None:
    engine = StreamEngine(FAST)
    statuses: list[StreamStatus] = []
    stamped: list[tuple[float, StreamStatus]] = []  # for the failure message

    def record(_key: str, status: StreamStatus) -> None:
        statuses.append(status)
        stamped.append((time.monotonic(), status))

    engine.status_changed.connect(record)
    try:
        handle = engine.open(rtsp_server_private.url("/cam1/sub"))
        wait_for(lambda: handle.status.state == StreamState.LIVE, 10, "live")
        stopped_at = time.monotonic()
        rtsp_server_private.stop()
        # Recorded, not polled: an offline status lasts only until the next retry.
        offline = wait_for(
            lambda: next((s for s in statuses if s.state == StreamState.OFFLINE), None),
            8,
            "offline",
        )
        assert offline.reason
        assert offline.next_retry_at is not None
        # It keeps retrying (backoff at most 1 s); while the server is down the reason is a
        # refused connection (and no other: a port like 24013 once read as "401", unauthorized).
        try:
            wait_for(
                lambda: any(st.reason == "connection refused" for st in statuses),
                8,
                "an offline status saying the connection was refused",
            )
        except AssertionError as exc:
            seen = [(round(t - stopped_at, 2), s.state.name, s.reason) for t, s in stamped]
            raise AssertionError(
                f"{exc}; statuses (s after the stop): {seen}; server exit status "
                f"{rtsp_server_private.returncode}"
            ) from None
        assert StreamState.UNAUTHORIZED not in [s.state for s in statuses]
        rtsp_server_private.start()
        wait_for(lambda: handle.status.state == StreamState.LIVE, 15, "live again")
        assert handle.stats().reconnects >= 1
        states = [s.state for s in statuses]
        assert states.index(StreamState.OFFLINE) < len(states) - 1 - states[::-1].index(
            StreamState.LIVE
        )
    finally:
        engine.shutdown(2.0)


def test_black_hole_goes_offline_by_timeout(engine: StreamEngine, black_hole) -> None:
    # Recorded, not polled: the offline status lasts only until the next retry (0.2 s backoff).
    seen: list[tuple[float, StreamStatus]] = []
    engine.status_changed.connect(lambda _key, status: seen.append((time.monotonic(), status)))
    started = time.monotonic()
    engine.open(black_hole.url("rtsp"))
    offline = wait_for(
        lambda: [(t, s) for t, s in seen if s.state == StreamState.OFFLINE], 15, "offline"
    )
    at, status = offline[0]
    assert "timeout" in status.reason
    # Configured timeout 2 s: PyAV's open guard is twice that at most.
    assert at - started < FAST.timeout * 2 + 1.5


def test_a_web_server_on_the_rtsp_port_is_an_error_that_shows_no_password(
    engine: StreamEngine, monkeypatch, caplog
) -> None:
    # A common site-file slip: the camera's web port where its RTSP port belongs. The worker
    # opens the URL with the credentials filled in, and PyAV's error repeats that URL.
    from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

    class Quiet(BaseHTTPRequestHandler):
        def log_message(self, *args: object) -> None:
            pass

    web = ThreadingHTTPServer(("127.0.0.1", 0), Quiet)
    threading.Thread(target=web.serve_forever, daemon=True).start()
    monkeypatch.setenv("T_USER", "viewer")
    monkeypatch.setenv("T_PASS", "pa55-in-the-vault")
    cred = CredentialRef("test", "env:T_USER", "env:T_PASS")
    url = f"rtsp://127.0.0.1:{web.server_address[1]}/cam"
    caplog.set_level("INFO", logger="app.streams")
    try:
        handle = engine.open(Stream(StreamRole.SUB, url, credential=cred))
        status = wait_for(
            lambda: handle.status if handle.status.state == StreamState.ERROR else None,
            10,
            "an error status",
        )
    finally:
        web.shutdown()
        web.server_close()
    assert status.reason == "the device's answer is not a video stream (invalid data)"
    assert status.next_retry_at is not None  # still retrying: the address may be fixed
    assert caplog.records, "the failure is logged"
    assert "pa55-in-the-vault" not in caplog.text
    assert f"rtsp://127.0.0.1:{web.server_address[1]}/cam" in caplog.text


def test_wrong_password_is_unauthorized(engine: StreamEngine, rtsp_server, monkeypatch) -> None:
    monkeypatch.setenv("T_USER", "viewer")
    monkeypatch.setenv("T_PASS", "wrong")
    cred = CredentialRef("test", "env:T_USER", "env:T_PASS")
    handle = engine.open(Stream(StreamRole.SUB, rtsp_server.url("/secure/sub"), credential=cred))
    wait_for(lambda: handle.status.state == StreamState.UNAUTHORIZED, 10, "unauthorized")
    engine.release(handle)
    monkeypatch.setenv("T_PASS", "s3cret")
    handle = engine.open(Stream(StreamRole.SUB, rtsp_server.url("/secure/sub"), credential=cred))
    wait_for(lambda: handle.slot.latest(), 10, "a frame with the right password")


def test_missing_credential_is_a_clear_error(
    engine: StreamEngine, rtsp_server, monkeypatch
) -> None:
    monkeypatch.delenv("T_NOPE", raising=False)
    cred = CredentialRef("ops", "env:T_NOPE", "env:T_NOPE")
    handle = engine.open(Stream(StreamRole.SUB, rtsp_server.url("/secure/sub"), credential=cred))
    wait_for(lambda: handle.status.state == StreamState.ERROR, 10, "error")
    assert "T_NOPE" in handle.status.reason


def test_frozen_stream_goes_stalled_then_offline(rtsp_server, freezing_proxy) -> None:
    proxy = freezing_proxy("127.0.0.1", rtsp_server.port)
    # A socket timeout well beyond the stall limit: the watchdog (every 0.25 s) must see the
    # stall before the read gives up, even on a loaded machine.
    engine = StreamEngine(replace(FAST, timeout=4.0))
    # Record every transition: on a loaded machine the stalled phase (a few seconds) can
    # pass between two polls of the handle's status.
    seen: list[StreamStatus] = []
    engine.status_changed.connect(lambda _key, status: seen.append(status))
    try:
        handle = engine.open(proxy.url("/cam2/sub"))
        wait_for(lambda: handle.status.state == StreamState.LIVE, 10, "live through the proxy")
        proxy.freeze()
        frozen_at = len(seen)

        def after_freeze(state: StreamState) -> list[StreamStatus]:
            return [s for s in seen[frozen_at:] if s.state == state]

        wait_for(lambda: after_freeze(StreamState.STALLED), 10, "stalled")
        assert "no picture" in after_freeze(StreamState.STALLED)[0].reason
        wait_for(lambda: after_freeze(StreamState.OFFLINE), 15, "offline after the socket timeout")
    finally:
        engine.shutdown(2.0)
    states = [s.state for s in seen[frozen_at:]]
    assert states.index(StreamState.STALLED) < states.index(StreamState.OFFLINE)
    # Frozen all along: never "live" again in between, although FFmpeg hands out one held-back
    # frame when its read times out.
    between = states[states.index(StreamState.STALLED) : states.index(StreamState.OFFLINE)]
    assert StreamState.LIVE not in between, states


def test_shared_stream_and_clean_shutdown(rtsp_server) -> None:
    engine = StreamEngine(FAST)
    a = engine.open(rtsp_server.url("/cam1/sub"))
    b = engine.open(rtsp_server.url("/cam1/sub"))
    c = engine.open(rtsp_server.url("/cam2/sub"))
    assert a.worker is b.worker
    assert len(engine.open_keys()) == 2
    wait_for(lambda: a.slot.latest() and c.slot.latest(), 10, "frames on both")
    engine.release(a)
    assert len(engine.open_keys()) == 2  # b still watches it
    started = time.monotonic()
    late = engine.shutdown(2.0)
    assert late == []
    assert time.monotonic() - started < 2.0
    assert not a.worker.alive
    assert not c.worker.alive


def test_release_starts_no_thread_and_forgets_the_worker_once_ended(
    engine: StreamEngine, rtsp_server, monkeypatch
) -> None:
    """A release never waits for a thread to start (a 4x4 layout switch releases 16 streams
    from the GUI thread at once); the stopped worker is forgotten once its thread ended."""
    handles = [engine.open(rtsp_server.url(f"/cam{i}/sub")) for i in (1, 2)]
    wait_for(lambda: all(h.slot.latest() for h in handles), 10, "frames on both")
    started: list[str] = []
    real_start = threading.Thread.start

    def counting_start(thread: threading.Thread) -> None:
        started.append(thread.name)
        real_start(thread)

    monkeypatch.setattr(threading.Thread, "start", counting_start)
    for handle in handles:
        engine.release(handle)
    assert started == []
    assert engine.open_keys() == []
    wait_for(lambda: not engine._stopping, 10, "released workers forgotten once ended")
    assert not any(h.worker.alive for h in handles)


def test_keyframes_only_decodes_about_one_frame_per_gop(engine: StreamEngine, rtsp_server) -> None:
    handle = engine.open(rtsp_server.url("/cam1/sub"))
    wait_for(lambda: handle.stats().frames_decoded > 5, 10, "frames")
    handle.worker.set_keyframes_only(True)
    time.sleep(0.2)  # let the packet in flight finish
    before = handle.stats().frames_decoded
    wait_for(lambda: handle.stats().frames_decoded >= before + 2, 6, "two key frames")
    t0 = time.monotonic()
    n0 = handle.stats().frames_decoded
    wait_for(lambda: time.monotonic() - t0 > 2.0, 3)
    rate = (handle.stats().frames_decoded - n0) / (time.monotonic() - t0)
    assert rate < 3  # GOP is 1 s at 25 fps: ~1 frame/s instead of 25


def test_shutdown_joins_a_worker_stuck_on_a_silent_camera(black_hole) -> None:
    """A camera that accepts TCP and never answers must not hold the exit (issue: 2 s)."""
    engine = StreamEngine(StreamOptions(timeout=30.0))  # FFmpeg alone would wait 60 s
    handle = engine.open(f"rtsp://127.0.0.1:{black_hole.port}/cam")
    wait_for(lambda: black_hole.accepted, 10, "the connection to be accepted")
    assert handle.status.state == StreamState.CONNECTING
    assert engine.shutdown(2.0) == []
    assert not handle.worker.alive


def test_shutdown_joins_a_worker_blocked_in_a_read_on_a_frozen_camera(
    rtsp_server, freezing_proxy
) -> None:
    """A camera that froze mid-stream (TCP open, no data) must not hold the exit (issue: 2 s).

    The socket timeout is 10 s (FFmpeg gives up after about twice that): only the abort of
    stop() can end the blocked read in time.
    """
    engine = StreamEngine(StreamOptions(timeout=10.0, stall_after=1.0))
    proxy = freezing_proxy("127.0.0.1", rtsp_server.port)
    seen: list[StreamStatus] = []
    engine.status_changed.connect(lambda _key, status: seen.append(status))
    try:
        handle = engine.open(proxy.url("/cam1/sub"))
        wait_for(lambda: handle.status.state == StreamState.LIVE, 10, "live through the proxy")
        proxy.freeze()
        frozen_at = len(seen)
        # Stalled: the worker is connected and its read is waiting for data that never comes.
        wait_for(
            lambda: any(s.state == StreamState.STALLED for s in seen[frozen_at:]),
            10,
            "stalled in a read",
        )
        assert handle.worker.alive
        started = time.monotonic()
        late = engine.shutdown(2.0)
        took = time.monotonic() - started
    finally:
        engine.shutdown(2.0)
    assert late == []
    assert took < 2.0
    assert not handle.worker.alive
    # Stopped, not failed: the abort is no error to show (nothing went offline on the way).
    after = [s.state for s in seen[frozen_at:]]
    assert after[-1] == StreamState.IDLE
    assert StreamState.OFFLINE not in after
    assert StreamState.ERROR not in after


def test_shutdown_joins_a_released_worker_still_blocked_in_a_read(
    rtsp_server, freezing_proxy
) -> None:
    """Closing the window releases every feed first; shutdown() must join those workers too."""
    engine = StreamEngine(StreamOptions(timeout=10.0, stall_after=1.0))
    proxy = freezing_proxy("127.0.0.1", rtsp_server.port)
    try:
        handle = engine.open(proxy.url("/cam2/sub"))
        wait_for(lambda: handle.status.state == StreamState.LIVE, 10, "live through the proxy")
        proxy.freeze()
        wait_for(lambda: handle.status.state == StreamState.STALLED, 10, "stalled in a read")
        engine.release(handle)
        started = time.monotonic()
        late = engine.shutdown(2.0)
        took = time.monotonic() - started
    finally:
        engine.shutdown(2.0)
    assert late == []
    assert took < 2.0
    assert not handle.worker.alive
