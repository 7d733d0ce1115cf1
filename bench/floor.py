"""The decode floor: PyAV alone decoding each stream and scaling it to its tile's size in RGB.

This is the least a CPU-only display of the same wall must do (demux, decode, swscale to the
on-screen size in 32-bit RGB), with the same FFmpeg build, open options, decoder threading
(one SLICE thread per stream) and scaler (fast bilinear, one reused context per stream) as
the application, and nothing else: no stamp reading on most frames, no hand-off, no GUI.
``bench`` runs it next to the application on the same streams at the same time and divides
the application's CPU by its.

    .venv/bin/python -m bench.floor --seconds 20 --stream rtsp://…/c00/sub 400x224 …

``--ffmpeg`` runs Debian's ``ffmpeg`` instead (one process, every stream an input, each
scaled to BGRA and discarded), a second opinion on the same floor.
"""

from __future__ import annotations

import argparse
import json
import shutil
import signal
import subprocess
import sys
import threading
import time
from pathlib import Path
from typing import Any

import av
import numpy as np
from av.video.reformatter import VideoReformatter

from app.streams.stamp import read_stamp

av.logging.set_level(None)
OPEN_OPTIONS = {
    "rtsp_transport": "tcp",
    "timeout": "5000000",
    "probesize": "32",
    "analyzeduration": "0",
    "allowed_media_types": "video",
}
STAMP_EVERY = 25  # frames between latency samples (a sample costs ~0.05 ms)


class FloorStream:
    """One stream: a thread that decodes and scales every frame, counting them."""

    def __init__(self, url: str, width: int, height: int, stop: threading.Event) -> None:
        self.url = url
        self.width = width
        self.height = height
        self.stop = stop
        self.frames = 0
        self.errors: list[str] = []
        self.latency_ms: list[float] = []
        self.thread = threading.Thread(target=self._run, name=f"floor-{url}", daemon=True)

    def _run(self) -> None:
        while not self.stop.is_set():
            try:
                self._session()
            except av.FFmpegError as exc:
                self.errors.append(f"{type(exc).__name__}: {exc}")
                self.stop.wait(0.5)

    def _session(self) -> None:
        with av.open(self.url, options=OPEN_OPTIONS, timeout=(10, None)) as container:
            stream = container.streams.video[0]
            cc = stream.codec_context
            cc.thread_type = "SLICE"
            cc.thread_count = 1
            # One scaler per stream, single-threaded: the cheapest way PyAV offers (a new
            # SwsContext per frame, what frame.reformat() does, costs 2-3x more).
            scaler = VideoReformatter()
            for packet in container.demux(stream):
                if self.stop.is_set():
                    return
                for frame in cc.decode(packet):
                    scaler.reformat(
                        frame,
                        width=self.width,
                        height=self.height,
                        format="bgra",
                        interpolation="FAST_BILINEAR",
                        threads=1,
                    )
                    self.frames += 1
                    if self.frames % STAMP_EVERY == 1:
                        self._sample_latency(frame)

    def _sample_latency(self, frame: Any) -> None:
        plane = frame.planes[0]
        rows = min(frame.height, 24)
        luma = np.frombuffer(plane, dtype=np.uint8)[: plane.line_size * rows]
        stamp = read_stamp(luma.reshape(rows, plane.line_size)[:, : frame.width])
        if stamp is not None:
            self.latency_ms.append((time.time_ns() - stamp) / 1e6)


def run_pyav(streams: list[tuple[str, int, int]], seconds: float) -> dict[str, Any]:
    stop = threading.Event()
    signal.signal(signal.SIGTERM, lambda *_: stop.set())
    workers = [FloorStream(url, w, h, stop) for url, w, h in streams]
    for w in workers:
        w.thread.start()
    stop.wait(seconds)
    stop.set()
    for w in workers:
        w.thread.join(6.0)
    return {
        "kind": "pyav",
        "streams": [
            {
                "url": w.url,
                "size": [w.width, w.height],
                "frames": w.frames,
                "errors": w.errors[-3:],
                "latency_ms_samples": [round(x, 1) for x in w.latency_ms],
            }
            for w in workers
        ],
    }


def ffmpeg_command(streams: list[tuple[str, int, int]]) -> list[str]:
    exe = shutil.which("ffmpeg") or "ffmpeg"
    cmd = [exe, "-nostdin", "-hide_banner", "-loglevel", "error"]
    for url, _, _ in streams:
        cmd += ["-threads", "1", "-rtsp_transport", "tcp", "-probesize", "32"]
        cmd += ["-analyzeduration", "0", "-i", url]
    for i, (_, w, h) in enumerate(streams):
        cmd += ["-map", f"{i}:v", "-vf", f"scale={w}:{h}:flags=fast_bilinear,format=bgra"]
        cmd += ["-f", "null", "-"]
    return cmd


def run_ffmpeg(streams: list[tuple[str, int, int]], seconds: float) -> dict[str, Any]:
    proc = subprocess.Popen(ffmpeg_command(streams), stdin=subprocess.DEVNULL)
    stop = threading.Event()
    signal.signal(signal.SIGTERM, lambda *_: stop.set())
    deadline = time.monotonic() + seconds
    while not stop.is_set() and time.monotonic() < deadline and proc.poll() is None:
        stop.wait(0.2)
    proc.terminate()
    try:
        proc.wait(5)
    except subprocess.TimeoutExpired:
        proc.kill()
        proc.wait()
    return {"kind": "ffmpeg", "streams": [{"url": u, "size": [w, h]} for u, w, h in streams]}


def parse_size(text: str) -> tuple[int, int]:
    w, _, h = text.partition("x")
    return int(w), int(h)


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--seconds", type=float, required=True)
    ap.add_argument("--stream", nargs=2, action="append", default=[], metavar=("URL", "WxH"))
    ap.add_argument("--ffmpeg", action="store_true", help="Debian's ffmpeg instead of PyAV")
    ap.add_argument("--json", type=Path, help="write per-stream counts here")
    args = ap.parse_args(argv)
    streams = [(url, *parse_size(size)) for url, size in args.stream]
    result = run_ffmpeg(streams, args.seconds) if args.ffmpeg else run_pyav(streams, args.seconds)
    if args.json:
        args.json.write_text(json.dumps(result))
    return 0


if __name__ == "__main__":
    sys.exit(main())
