"""Stream core without a network: frame slot, backoff, policy, stamps and error mapping."""

from __future__ import annotations

import errno
import os
import random

import av
import numpy as np
import pytest

from app.site.model import StreamRole
from app.streams.frames import FrameSlot, PixelFormat, VideoFrame
from app.streams.policy import choose_role
from app.streams.stamp import read_stamp, write_stamp
from app.streams.stats import StreamStats
from app.streams.status import (
    CameraStatus,
    StreamState,
    camera_status,
    classify_error,
    describe_error,
)
from app.streams.worker import StreamOptions, backoff_delay, fit_size


def _frame(seq: int) -> VideoFrame:
    return VideoFrame(seq, 2, 2, PixelFormat.BGRA, np.zeros((2, 2, 4), np.uint8), 2, 2, 0.0)


def test_slot_keeps_only_the_newest_and_counts_replacements() -> None:
    slot = FrameSlot()
    slot.put(_frame(1))
    slot.put(_frame(2))  # 1 was never taken
    got = slot.latest()
    assert got is not None
    assert got.seq == 2
    assert slot.replaced == 1
    assert slot.latest(after_seq=2) is None
    slot.put(_frame(3))
    assert slot.replaced == 1  # 2 had been taken


def test_backoff_grows_exponentially_with_jitter_and_a_cap() -> None:
    opts = StreamOptions(backoff_initial=0.5, backoff_max=30)
    rng = random.Random(1)
    delays = [backoff_delay(a, opts, rng) for a in range(12)]
    for attempt, d in enumerate(delays):
        step = min(30, 0.5 * 2**attempt)
        assert step / 2 <= d <= step
    assert max(delays) <= 30


def test_role_choice_has_hysteresis() -> None:
    assert choose_role(None, 200) == StreamRole.SUB
    assert choose_role(StreamRole.SUB, 400) == StreamRole.SUB  # 400 < 360 * 1.3
    assert choose_role(StreamRole.SUB, 480) == StreamRole.MAIN
    assert choose_role(StreamRole.MAIN, 400) == StreamRole.MAIN  # no flap back
    assert choose_role(StreamRole.MAIN, 350) == StreamRole.SUB


def test_stamp_round_trip_survives_h264() -> None:
    luma = np.full((360, 640), 90, np.uint8)
    stamp = 1_795_000_000_123_456_789
    write_stamp(luma, stamp)
    assert read_stamp(luma) == stamp
    # Through a real encoder and decoder: the blocks must survive compression.
    codec = av.CodecContext.create("libx264", "w")
    codec.width, codec.height, codec.pix_fmt = 640, 360, "yuv420p"
    codec.options = {"preset": "ultrafast", "tune": "zerolatency"}
    img = np.full((540, 640), 128, np.uint8)
    img[:360] = luma
    frame = av.VideoFrame.from_ndarray(img, format="yuv420p")
    packets = list(codec.encode(frame)) + list(codec.encode(None))
    decoder = av.CodecContext.create("h264", "r")
    decoded = [f for p in packets for f in decoder.decode(p)]
    assert read_stamp(decoded[0].to_ndarray()[:360]) == stamp
    assert read_stamp(np.full((360, 640), 90, np.uint8)) is None


def test_fit_size_keeps_aspect() -> None:
    assert fit_size(1920, 1080, 480, 480) == (480, 270)
    assert fit_size(1920, 1080, 300, 300) == (288, 168)
    assert fit_size(640, 360, 1000, 1000) == (640, 360)
    assert fit_size(640, 360, 0, 0) == (640, 360)


def test_lost_frames_are_counted_from_timestamp_gaps() -> None:
    stats = StreamStats()
    t = 0.0
    for i in list(range(10)) + list(range(13, 20)):  # frames 10-12 missing
        stats.on_frame(t, 1.0, i * 0.04)
        t += 0.04
    assert stats.frames_lost == 3


def test_errors_map_to_states_with_reasons() -> None:
    assert (
        classify_error(ConnectionRefusedError(errno.ECONNREFUSED, "x"), 0.1, 5).state
        == StreamState.OFFLINE
    )
    assert (
        classify_error(ConnectionRefusedError(errno.ECONNREFUSED, "x"), 0.1, 5).reason
        == "connection refused"
    )
    timeout = classify_error(av.error.InvalidDataError(errno.EINVAL, "Invalid data"), 5.0, 5)
    assert timeout.state == StreamState.OFFLINE
    assert "timeout" in timeout.reason
    auth = classify_error(
        av.error.HTTPUnauthorizedError(0, "Server returned 401 Unauthorized"), 0.1, 5
    )
    assert auth.state == StreamState.UNAUTHORIZED
    assert classify_error(RuntimeError("weird"), 0.1, 5).state == StreamState.ERROR


def _ffmpeg_error(code: int) -> Exception:
    """The exception PyAV itself raises for FFmpeg's error ``code`` (a negative AVERROR)."""
    try:
        av.error.err_check(code)
    except Exception as exc:
        return exc
    raise AssertionError(f"err_check({code}) did not raise")


AVERROR_EOF = -0x20464F45  # FFERRTAG('E','O','F',' ')


@pytest.mark.parametrize(
    ("exc", "state", "reason"),
    [
        (
            av.error.DecoderNotFoundError(-0x43454400, "Decoder not found"),
            StreamState.UNSUPPORTED,
            "unsupported codec",
        ),
        (_ffmpeg_error(-errno.EHOSTUNREACH), StreamState.OFFLINE, "unreachable"),
        (_ffmpeg_error(-errno.ENETUNREACH), StreamState.OFFLINE, "unreachable"),
        (_ffmpeg_error(-errno.ECONNRESET), StreamState.OFFLINE, "closed"),
        (_ffmpeg_error(AVERROR_EOF), StreamState.OFFLINE, "closed"),
        (EOFError(), StreamState.OFFLINE, "closed"),
        (_ffmpeg_error(-errno.ECONNREFUSED), StreamState.OFFLINE, "connection refused"),
    ],
    ids=[
        "decoder-not-found",
        "ehostunreach",
        "enetunreach",
        "econnreset",
        "av-eof",
        "eof",
        "refused",
    ],
)
def test_ffmpeg_errors_map_to_states_and_reasons(
    exc: Exception, state: StreamState, reason: str
) -> None:
    # A quick failure (0.1 s of a 5 s timeout): the errno decides, not the elapsed time.
    status = classify_error(exc, 0.1, 5)
    assert status.state == state, status
    assert reason in status.reason, status
    assert status.since > 0


def test_camera_status_summary() -> None:
    assert camera_status([]) == CameraStatus.IDLE
    assert camera_status([StreamState.LIVE, StreamState.LIVE]) == CameraStatus.LIVE
    assert camera_status([StreamState.LIVE, StreamState.OFFLINE]) == CameraStatus.DEGRADED
    assert camera_status([StreamState.OFFLINE]) == CameraStatus.OFFLINE
    assert (
        camera_status([StreamState.UNAUTHORIZED, StreamState.OFFLINE]) == CameraStatus.UNAUTHORIZED
    )


def test_an_unclassified_error_shows_no_password() -> None:
    # PyAV ends its message with the URL it opened, which carries the resolved credentials.
    url = "rtsp://viewer:s3cret@10.1.2.3:554/cam?token=abc"
    try:
        av.error.err_check(-0x41444E49, url)  # AVERROR_INVALIDDATA, as FFmpeg returns it
    except av.error.InvalidDataError as caught:
        exc = caught
    assert "s3cret" in str(exc)  # what the fix is about
    status = classify_error(exc, 0.1, 5)
    assert status.state == StreamState.ERROR
    assert status.reason == "the device's answer is not a video stream (invalid data)"
    # Another FFmpeg error nobody classified: FFmpeg's words, no "[Errno ...]", no URL.
    try:
        av.error.err_check(-errno.EPROTO, url)
    except OSError as caught:
        other = classify_error(caught, 0.1, 5)
    assert other.state == StreamState.ERROR
    assert other.reason == os.strerror(errno.EPROTO)
    described = describe_error(exc)
    assert "s3cret" not in described
    assert "abc" not in described
    assert "rtsp://10.1.2.3:554/cam?token=***" in described
    # Any URL in a message, not only PyAV's filename.
    loose = describe_error(RuntimeError("cannot reach http://admin:pw@10.0.0.9/onvif and stop"))
    assert loose == "cannot reach http://10.0.0.9/onvif and stop"
    assert classify_error(RuntimeError("x http://a:pw@h/ y"), 0.1, 5).reason == "x http://h/ y"


@pytest.mark.parametrize("port", [24013, 21403, 40357, 20404, 8401, 8404])
def test_a_status_code_in_the_url_is_not_the_error(port: int) -> None:
    # PyAV's message ends with the URL: its port or path must not read as HTTP 401/403/404.
    url = f"rtsp://127.0.0.1:{port}/cam401/404"
    try:
        av.error.err_check(-errno.ECONNREFUSED, url)
    except av.error.FFmpegError as caught:
        refused = caught
    assert classify_error(refused, 0.1, 5).reason == "connection refused"
    try:
        av.error.err_check(-0x41444E49, url)  # AVERROR_INVALIDDATA
    except av.error.FFmpegError as caught:
        invalid = caught
    assert classify_error(invalid, 0.1, 5).state == StreamState.ERROR
    assert "timeout" in classify_error(invalid, 5.0, 5).reason


def test_http_status_codes_in_ffmpeg_messages_are_classified() -> None:
    for message, state in (
        ("Server returned 401 Unauthorized (authorization failed)", StreamState.UNAUTHORIZED),
        ("Server returned 403 Forbidden (access denied)", StreamState.UNAUTHORIZED),
        ("Server returned 404 Not Found", StreamState.OFFLINE),
        ("method DESCRIBE failed: 404 Stream Not Found", StreamState.OFFLINE),
    ):
        assert classify_error(OSError(0, message, "rtsp://h:8554/x"), 0.1, 5).state == state
