"""The RTSP test server and fault helpers, checked with the real PyAV client.

Also pins down which PyAV exception each failure raises, which the stream engine
relies on to classify a camera's status.
"""

from __future__ import annotations

import socket
import threading
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass

import av
import av.error
import numpy as np
import numpy.typing as npt
import pytest

from app.streams.stamp import read_stamp
from tests.servers import PASSWORD, USER, RtspServerProcess
from tests.servers.netfaults import BlackHole, FreezingProxy

pytestmark = pytest.mark.rtsp

TCP = {"rtsp_transport": "tcp", "timeout": "5000000"}
# FFmpeg's default probing buffers about 1 s of frames before av.open returns, and
# decoding that backlog shows ~1 s of "latency" (over 2 s on a loaded machine) that
# says nothing about the server; without probing the first frame shows ~50 ms.
LIVE = {**TCP, "probesize": "32", "analyzeduration": "0"}
MAX_LATENCY_NS = 2_000_000_000


@dataclass(frozen=True)
class Decoded:
    codec: str
    width: int
    height: int
    stamp: int | None  # sender wall-clock time, ns
    received: int  # our wall-clock time once decoded, ns
    luma: npt.NDArray[np.uint8]
    chroma_u: npt.NDArray[np.uint8]


def _frames(
    container: av.container.InputContainer, corrupt: list[av.error.FFmpegError] | None = None
) -> Iterator[Decoded]:
    """Decoded frames of the first video stream; demuxer errors propagate.

    A packet the decoder rejects (a stream cut mid-frame) is skipped and recorded in
    ``corrupt``, as a stream engine would; without that list it propagates.
    """
    stream = container.streams.video[0]
    for packet in container.demux(stream):
        try:
            frames = stream.codec_context.decode(packet)
        except av.error.InvalidDataError as exc:
            if corrupt is None:
                raise
            corrupt.append(exc)
            continue
        for frame in frames:
            received = time.time_ns()
            # yuv420p: (h * 3 / 2, w), Y rows first (no copy: it is uint8 already)
            planes = np.asarray(frame.to_ndarray(), dtype=np.uint8)
            h, w = frame.height, frame.width
            yield Decoded(
                codec=stream.codec_context.name,
                width=w,
                height=h,
                stamp=read_stamp(planes[:h]),
                received=received,
                luma=planes[:h].copy(),
                chroma_u=planes[h : h + h // 4].copy(),
            )


def decode(url: str, count: int, options: dict[str, str] = LIVE) -> list[Decoded]:
    """Open ``url``, decode ``count`` frames, close."""
    with av.open(url, options=options) as container:
        out = []
        for decoded in _frames(container):
            out.append(decoded)
            if len(out) == count:
                return out
    raise AssertionError(f"{url}: stream ended after {len(out)} frames")


def assert_live_and_stamped(frames: list[Decoded]) -> None:
    stamps = [f.stamp for f in frames if f.stamp is not None]
    assert len(stamps) == len(frames), "every frame carries a stamp"
    latencies = [f.received - f.stamp for f in frames if f.stamp is not None]
    assert all(0 <= lat < MAX_LATENCY_NS for lat in latencies), latencies
    assert stamps == sorted(stamps), "stamps must increase"
    assert len(set(stamps)) == len(stamps), "each frame carries its own stamp"
    if len(frames) >= 5:
        # Paced by the sender: never faster than 25 fps. A starved sender (x265 on a busy
        # 2-core machine reaches ~7 fps) drops frames rather than falling behind.
        interval = float(np.median(np.diff(np.array(stamps, dtype=np.int64))))
        assert 35e6 < interval < 250e6, f"median frame interval {interval / 1e6:.1f} ms"
    # Moving content, below the stamp row: the encoder has real work to do.
    first, last = frames[0].luma[32:], frames[-1].luma[32:]
    assert np.mean(np.abs(first.astype(np.int16) - last.astype(np.int16))) > 2.0


@pytest.mark.parametrize(
    ("mount", "codec", "width", "height"),
    [
        ("cam1/sub", "h264", 640, 360),
        ("cam1/main", "h264", 1280, 720),
        ("h265/main", "hevc", 1280, 720),
    ],
)
def test_mount_serves_stamped_live_video(
    rtsp_server: RtspServerProcess, mount: str, codec: str, width: int, height: int
) -> None:
    frames = decode(rtsp_server.url(mount), 25, LIVE)
    assert {(f.codec, f.width, f.height) for f in frames} == {(codec, width, height)}
    assert_live_and_stamped(frames)


def test_default_probing_backlog_drains_to_live(rtsp_server: RtspServerProcess) -> None:
    frames = decode(rtsp_server.url("cam2/main"), 50, TCP)
    assert all(f.stamp is not None and f.received >= f.stamp for f in frames)
    assert_live_and_stamped(frames[-5:])


def test_udp_transport_and_distinct_cameras(rtsp_server: RtspServerProcess) -> None:
    cam2 = decode(rtsp_server.url("cam2/sub"), 8, {**LIVE, "rtsp_transport": "udp"})
    assert_live_and_stamped(cam2)
    cam1 = decode(rtsp_server.url("cam1/sub"), 1)
    diff = np.abs(cam1[0].chroma_u.astype(np.int16) - cam2[-1].chroma_u.astype(np.int16))
    assert np.mean(diff) > 10, "cam1 and cam2 should show different pictures"


def test_secure_mount_requires_basic_auth(rtsp_server: RtspServerProcess) -> None:
    with pytest.raises(av.error.HTTPUnauthorizedError):
        av.open(rtsp_server.url("secure/sub"), options=TCP)
    with pytest.raises(av.error.HTTPUnauthorizedError):
        av.open(rtsp_server.url("secure/sub", user=USER, password="wrong"), options=TCP)
    frames = decode(rtsp_server.url("secure/sub", user=USER, password=PASSWORD), 5)
    assert (frames[0].width, frames[0].height) == (640, 360)
    assert_live_and_stamped(frames)


def test_unknown_mount_is_not_found(rtsp_server: RtspServerProcess) -> None:
    with pytest.raises(av.error.HTTPNotFoundError):
        av.open(rtsp_server.url("cam9/main"), options=TCP)


def test_offline_then_live_again_on_the_same_port(rtsp_server_private: RtspServerProcess) -> None:
    server = rtsp_server_private
    port = server.port
    with av.open(server.url("cam1/sub"), options=LIVE) as container:
        frames = _frames(container)
        assert next(frames).stamp is not None
        server.stop()
        assert server.returncode == 0, server.output  # clean exit on SIGTERM
        # A server that goes away mid-stream ends the stream (EOF), it raises nothing.
        t0 = time.monotonic()
        leftover = sum(1 for _ in frames)
        assert time.monotonic() - t0 < 6.0
        assert leftover < 50

    with pytest.raises(av.error.ConnectionRefusedError) as refused:
        av.open(server.url("cam1/sub"), options=TCP)
    assert isinstance(refused.value, ConnectionRefusedError)  # the builtin, too

    server.start()
    assert server.port == port
    assert_live_and_stamped(decode(server.url("cam1/sub"), 5))


def test_black_hole_times_out(black_hole: BlackHole) -> None:
    t0 = time.monotonic()
    # ffmpeg reports the unanswered OPTIONS request as invalid data, not as a timeout.
    with pytest.raises(av.error.InvalidDataError):
        av.open(black_hole.url("rtsp"), options={"rtsp_transport": "tcp", "timeout": "1000000"})
    assert time.monotonic() - t0 < 3.0
    assert black_hole.accepted >= 1


def test_frozen_stream_read_times_out(
    rtsp_server: RtspServerProcess, freezing_proxy: Callable[[str, int], FreezingProxy]
) -> None:
    proxy = freezing_proxy("127.0.0.1", rtsp_server.port)
    options = {**LIVE, "timeout": "1000000"}
    with av.open(proxy.url("/cam1/sub"), options=options) as container:
        # The freeze cuts the byte stream wherever it is, often inside a frame: the
        # decoder then rejects the truncated packet with InvalidDataError.
        corrupt: list[av.error.FFmpegError] = []
        frames = _frames(container, corrupt)
        before = [next(frames) for _ in range(5)]
        assert_live_and_stamped(before)
        assert corrupt == []

        proxy.freeze()
        frozen_at = time.time_ns()
        t0 = time.monotonic()
        late: list[Decoded] = []
        with pytest.raises(av.error.TimeoutError) as timed_out:
            late.extend(frames)
        assert isinstance(timed_out.value, TimeoutError)
        assert time.monotonic() - t0 < 8.0
        # Frames decoded after the freeze were already on their way (socket and probe
        # buffers); none was produced after it.
        assert all(f.stamp is not None and f.stamp < frozen_at for f in late)
    assert proxy.bytes_dropped > 0

    proxy.unfreeze()
    assert_live_and_stamped(decode(proxy.url("/cam1/sub"), 3, options))


def test_fault_helpers_join_their_threads() -> None:
    with BlackHole() as hole, FreezingProxy("127.0.0.1", hole.port) as proxy:
        client = socket.create_connection(("127.0.0.1", proxy.port), timeout=5)
        client.sendall(b"OPTIONS * RTSP/1.0\r\n\r\n")
        deadline = time.monotonic() + 5
        while (hole.accepted, proxy.bytes_forwarded) != (1, 22) and time.monotonic() < deadline:
            time.sleep(0.01)
        assert (hole.accepted, proxy.bytes_forwarded) == (1, 22)
        names = {f"blackhole:{hole.port}", f"proxy:{proxy.port}"}
    client.close()
    leftovers = [t.name for t in threading.enumerate() if any(t.name.startswith(n) for n in names)]
    assert leftovers == []
    with pytest.raises(ValueError):
        FreezingProxy("10.0.0.1", 554)
