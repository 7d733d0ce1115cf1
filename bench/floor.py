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

``--present`` adds the least a Python and PySide6 display must do on top of the floor: each
decode thread leaves its newest picture in a slot, a wake-up (or, while frames come densely,
a 10 ms poll: the application's own rule) lets the GUI thread wrap each new picture in a
QImage and repaint one plain widget per stream, whose paint blits it. No overlays, no
statistics, no layouts. It is a reference for the application's CPU, not a target.
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

    def __init__(
        self,
        url: str,
        width: int,
        height: int,
        stop: threading.Event,
        on_frame: Any = None,
    ) -> None:
        self.url = url
        # --present: called with each scaled picture (a PyAV frame) from the decode thread.
        self.on_frame = on_frame
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
                    out = scaler.reformat(
                        frame,
                        width=self.width,
                        height=self.height,
                        format="bgra",
                        interpolation="FAST_BILINEAR",
                        threads=1,
                    )
                    self.frames += 1
                    if self.on_frame is not None:
                        self.on_frame(out)
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


def run_present(streams: list[tuple[str, int, int]], seconds: float) -> dict[str, Any]:
    """The floor plus the least a PySide6 display does per picture (see the module doc)."""
    from PySide6.QtCore import QCoreApplication, QEvent, QObject, QPoint, QTimer
    from PySide6.QtGui import QImage, QPainter, QPaintEvent
    from PySide6.QtWidgets import QApplication, QWidget

    app = QApplication.instance() or QApplication([])
    window = QWidget()
    window.resize(1920, 1080)

    class Pane(QWidget):
        def __init__(self, parent: QWidget) -> None:
            super().__init__(parent)
            self.frame: Any = None  # the PyAV frame whose memory the image wraps
            self.image: QImage | None = None
            self.painted = 0

        def paintEvent(self, event: QPaintEvent) -> None:
            if self.image is not None:
                painter = QPainter(self)
                painter.drawImage(QPoint(0, 0), self.image)
                painter.end()
                self.painted += 1

    slots: list[Any] = [None] * len(streams)
    shown: list[Any] = [None] * len(streams)
    panes: list[Pane] = []
    x = y = row_h = 0
    for _, w, h in streams:
        if x + w > 1920:
            x, y, row_h = 0, y + row_h + 2, 0
        pane = Pane(window)
        pane.setGeometry(x, y, w, h)
        panes.append(pane)
        x, row_h = x + w + 2, max(row_h, h)

    class Waker(QObject):
        def __init__(self) -> None:
            super().__init__()
            self.armed = True
            self.last = 0.0
            self.timer = QTimer(self)
            self.timer.setSingleShot(True)
            self.timer.timeout.connect(self.show)

        def event(self, event: QEvent) -> bool:
            if event.type() == QEvent.Type.User:
                self.show()
                return True
            return super().event(event)

        def wake(self) -> None:  # decode threads
            if self.armed:
                self.armed = False
                QCoreApplication.postEvent(self, QEvent(QEvent.Type.User))

        def show(self) -> None:
            now = time.monotonic()
            for i, frame in enumerate(slots):
                if frame is not None and frame is not shown[i]:
                    shown[i] = frame
                    plane, pane = frame.planes[0], panes[i]
                    pane.frame = frame
                    pane.image = QImage(
                        plane, frame.width, frame.height, plane.line_size, QImage.Format_RGB32
                    )
                    pane.update()
            dense, self.last = now - self.last < 0.02, now
            if dense:
                self.timer.start(10)
            else:
                self.armed = True

    waker = Waker()

    def landed(i: int) -> Any:
        def put(frame: Any) -> None:
            slots[i] = frame
            waker.wake()

        return put

    stop = threading.Event()
    signal.signal(signal.SIGTERM, lambda *_: stop.set())
    workers = [
        FloorStream(url, w, h, stop, on_frame=landed(i)) for i, (url, w, h) in enumerate(streams)
    ]
    window.show()
    for w in workers:
        w.thread.start()
    ticker = QTimer()
    ticker.timeout.connect(lambda: app.quit() if stop.is_set() else None)
    ticker.start(200)
    QTimer.singleShot(int(seconds * 1000), stop.set)
    app.exec()
    stop.set()
    for w in workers:
        w.thread.join(6.0)
    return {
        "kind": "present",
        "streams": [
            {"url": w.url, "size": [w.width, w.height], "frames": w.frames, "painted": p.painted}
            for w, p in zip(workers, panes, strict=True)
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
    ap.add_argument(
        "--present", action="store_true", help="add a minimal PySide6 display (a reference)"
    )
    ap.add_argument("--json", type=Path, help="write per-stream counts here")
    args = ap.parse_args(argv)
    streams = [(url, *parse_size(size)) for url, size in args.stream]
    if args.ffmpeg:
        result = run_ffmpeg(streams, args.seconds)
    elif args.present:
        result = run_present(streams, args.seconds)
    else:
        result = run_pyav(streams, args.seconds)
    if args.json:
        args.json.write_text(json.dumps(result))
    return 0


if __name__ == "__main__":
    sys.exit(main())
