"""Per-frame cost of the three ways to put a decoded camera frame on a tile (see docs/RENDERING.md).

Paths, for a 1280x720 yuv420p source shown in 480x270 tiles:

* raster: swscale to 480x270 BGRA (FAST_BILINEAR) in the decode thread, unscaled QImage blit;
* gl:     I420 plane copy in the decode thread, 3-texture upload + shader draw in paintGL;
* naive:  to_ndarray("rgb24") at full size, QImage wrap, scaled drawImage.

Run under Xvfb so the GL path has a context (Mesa llvmpipe there: GL on the CPU)::

    xvfb-run -a -s "-screen 0 1920x1080x24" env QT_QPA_PLATFORM=xcb \\
        .venv/bin/python bench/render_bench.py

With ``QT_QPA_PLATFORM=offscreen`` only the raster and naive paths run.
"""

from __future__ import annotations

import argparse
import json
import math
import os
import statistics
import sys
import time
from collections.abc import Callable
from dataclasses import asdict, dataclass, field
from fractions import Fraction
from typing import cast

import av
import numpy as np
import numpy.typing as npt
from PySide6.QtCore import QRectF
from PySide6.QtGui import QColor, QGuiApplication, QImage, QPainter, QPaintEvent
from PySide6.QtTest import QTest
from PySide6.QtWidgets import QApplication, QGridLayout, QWidget

from app.streams.frames import PixelFormat, VideoFrame
from widgets.video_surface import (
    GlVideoSurface,
    RasterVideoSurface,
    fit_rect,
    probe_gl_renderer,
)

SRC_W, SRC_H = 1280, 720
Pixels = npt.NDArray[np.uint8]
TILE_W, TILE_H = 480, 270


def make_source_frames(count: int) -> list[av.VideoFrame]:
    """Really decoded H.264 frames of a moving, noisy pattern (so no two frames are alike)."""
    enc = av.CodecContext.create("libx264", "w")
    enc.width, enc.height, enc.pix_fmt = SRC_W, SRC_H, "yuv420p"
    enc.time_base = Fraction(1, 25)
    enc.options = {"preset": "ultrafast", "tune": "zerolatency"}
    dec = av.CodecContext.create("h264", "r")
    rng = np.random.default_rng(1)
    xx, yy = np.meshgrid(np.arange(SRC_W), np.arange(SRC_H))
    out: list[av.VideoFrame] = []
    for i in range(count):
        rgb = np.empty((SRC_H, SRC_W, 3), dtype=np.uint8)
        rgb[..., 0] = (xx + 7 * i) % 256
        rgb[..., 1] = (yy + 3 * i) % 256
        rgb[..., 2] = ((xx // 40 + yy // 40 + i) % 2) * 200
        rgb += rng.integers(0, 24, size=rgb.shape, dtype=np.uint8)
        frame = av.VideoFrame.from_ndarray(rgb, format="rgb24").reformat(format="yuv420p")
        frame.pts = i
        for packet in enc.encode(frame):
            out.extend(dec.decode(packet))
    for packet in enc.encode(None):
        out.extend(dec.decode(packet))
    out.extend(dec.decode(None))
    return out[:count]


# -- decode-thread work, per path --------------------------------------------------------------


def prep_raster(src: av.VideoFrame, seq: int) -> VideoFrame:
    bgra = cast(
        Pixels, src.reformat(TILE_W, TILE_H, "bgra", interpolation="FAST_BILINEAR").to_ndarray()
    )
    return VideoFrame(seq, TILE_W, TILE_H, PixelFormat.BGRA, bgra, SRC_W, SRC_H, time.monotonic())


def prep_gl(src: av.VideoFrame, seq: int) -> VideoFrame:
    i420 = cast(Pixels, src.to_ndarray())  # (h*3/2, w): padding removed, one copy of the planes
    return VideoFrame(seq, SRC_W, SRC_H, PixelFormat.YUV420P, i420, SRC_W, SRC_H, time.monotonic())


def prep_naive(src: av.VideoFrame, seq: int) -> npt.NDArray[np.uint8]:
    return cast(Pixels, src.to_ndarray(format="rgb24"))


# -- timed surfaces ------------------------------------------------------------------------------


class TimedRaster(RasterVideoSurface):
    def __init__(self) -> None:
        super().__init__()
        self.paint_s: list[float] = []

    def paintEvent(self, event: QPaintEvent) -> None:
        t0 = time.perf_counter()
        super().paintEvent(event)
        self.paint_s.append(time.perf_counter() - t0)


class TimedGl(GlVideoSurface):
    def __init__(self) -> None:
        super().__init__()
        self.paint_s: list[float] = []

    def paintGL(self) -> None:
        t0 = time.perf_counter()
        super().paintGL()
        # llvmpipe (and GPUs) work asynchronously: wait, or only the call overhead is measured.
        self.context().functions().glFinish()
        self.paint_s.append(time.perf_counter() - t0)


class NaiveSurface(QWidget):
    """What a first attempt looks like: full-size RGB from PyAV, scaled by QPainter."""

    def __init__(self) -> None:
        super().__init__()
        self.paint_s: list[float] = []
        self._rgb: npt.NDArray[np.uint8] | None = None
        self._image: QImage | None = None

    def show_frame(self, rgb: npt.NDArray[np.uint8]) -> None:
        self._rgb = rgb
        h, w = rgb.shape[:2]
        self._image = QImage(rgb.data, w, h, int(rgb.strides[0]), QImage.Format.Format_RGB888)
        self.update()

    def paintEvent(self, event: QPaintEvent) -> None:
        t0 = time.perf_counter()
        painter = QPainter(self)
        painter.fillRect(self.rect(), QColor(0, 0, 0))
        if self._image is not None:
            r = fit_rect(SRC_W, SRC_H, self.width(), self.height())
            painter.drawImage(QRectF(r), self._image)
        painter.end()
        self.paint_s.append(time.perf_counter() - t0)


# -- the loop ----------------------------------------------------------------------------------


@dataclass
class Result:
    path: str
    tiles: int
    frames: int
    prep_ms: float  # decode-thread work for all tiles, per wall frame, wall clock (median)
    prep_cpu_ms: float  # process CPU during that work (swscale's own threads included)
    gui_ms: float  # GUI-thread repaint of the wall, wall clock (median)
    gui_cpu_ms: float  # process CPU during that repaint (llvmpipe's threads included)
    paint_ms_per_tile: float  # inside paintEvent/paintGL (+glFinish), per tile (median)
    renderer: str = ""
    notes: list[str] = field(default_factory=list)

    @property
    def total_ms(self) -> float:
        return self.prep_cpu_ms + self.gui_cpu_ms


def run_path(
    app: QApplication, path: str, tiles: int, sources: list[av.VideoFrame], frames: int, warmup: int
) -> Result:
    window = QWidget()
    grid = QGridLayout(window)
    grid.setContentsMargins(0, 0, 0, 0)
    grid.setSpacing(0)
    cols = math.ceil(math.sqrt(tiles))
    surfaces: list[TimedRaster | TimedGl | NaiveSurface] = []
    for i in range(tiles):
        s: TimedRaster | TimedGl | NaiveSurface
        if path == "raster":
            s = TimedRaster()
        elif path == "gl":
            s = TimedGl()
        else:
            s = NaiveSurface()
        s.setFixedSize(TILE_W, TILE_H)
        grid.addWidget(s, i // cols, i % cols)
        surfaces.append(s)
    window.show()
    QTest.qWaitForWindowExposed(window, 5000)
    QTest.qWait(100)

    prep: Callable[[av.VideoFrame, int], object] = {
        "raster": prep_raster,
        "gl": prep_gl,
        "naive": prep_naive,
    }[path]
    prep_s: list[float] = []
    prep_cpu_s: list[float] = []
    gui_s: list[float] = []
    gui_cpu_s: list[float] = []
    for s in surfaces:
        s.paint_s.clear()
    n = len(sources)
    for i in range(warmup + frames):
        t0 = time.perf_counter()
        c0 = time.process_time()
        # Each tile gets a different frame, as 16 different cameras would.
        items = [prep(sources[(i + 7 * t) % n], i) for t in range(tiles)]
        t1 = time.perf_counter()
        c1 = time.process_time()
        for s, item in zip(surfaces, items, strict=True):
            s.show_frame(item)  # type: ignore[arg-type]
        window.repaint()  # synchronous: paint every tile, compose, flush to the X server
        app.processEvents()
        t2 = time.perf_counter()
        c2 = time.process_time()
        if i == warmup:
            for s in surfaces:
                s.paint_s.clear()
        if i >= warmup:
            prep_s.append(t1 - t0)
            prep_cpu_s.append(c1 - c0)
            gui_s.append(t2 - t1)
            gui_cpu_s.append(c2 - c1)
    paint = [p for s in surfaces for p in s.paint_s]
    renderer = ""
    if path == "gl":
        renderer = surfaces[0].gl_renderer  # type: ignore[union-attr]
    missed = sum(1 for s in surfaces if isinstance(s, TimedGl) and s.presented < frames)
    window.close()
    window.deleteLater()
    app.processEvents()
    result = Result(
        path=path,
        tiles=tiles,
        frames=frames,
        prep_ms=1000 * statistics.median(prep_s),
        prep_cpu_ms=1000 * statistics.median(prep_cpu_s),
        gui_ms=1000 * statistics.median(gui_s),
        gui_cpu_ms=1000 * statistics.median(gui_cpu_s),
        paint_ms_per_tile=1000 * statistics.median(paint) if paint else float("nan"),
        renderer=renderer,
    )
    if missed:
        result.notes.append(f"{missed} GL tiles presented fewer frames than shown")
    return result


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0] if __doc__ else None)
    parser.add_argument("--frames", type=int, default=100, help="measured wall frames per case")
    parser.add_argument("--warmup", type=int, default=10)
    parser.add_argument("--tiles", default="1,16")
    parser.add_argument("--paths", default="raster,gl,naive")
    parser.add_argument("--json", help="also write the results here")
    args = parser.parse_args(argv)

    os.environ.setdefault("QT_QPA_PLATFORM", "xcb" if os.environ.get("DISPLAY") else "offscreen")
    app = QApplication(sys.argv[:1])
    platform = QGuiApplication.platformName()
    renderer = probe_gl_renderer()
    print(f"platform={platform} gl_renderer={renderer!r} cpus={os.cpu_count()}")
    print(f"av {av.__version__}, source {SRC_W}x{SRC_H} yuv420p (decoded H.264)", end=", ")
    print(f"tile {TILE_W}x{TILE_H}")
    sources = make_source_frames(60)

    results: list[Result] = []
    for tiles in (int(t) for t in args.tiles.split(",")):
        for path in args.paths.split(","):
            if path == "gl" and renderer is None:
                print(f"skip gl: no OpenGL on platform {platform}")
                continue
            results.append(run_path(app, path, tiles, sources, args.frames, args.warmup))
            r = results[-1]
            print(
                f"{r.path:6} tiles={r.tiles:2}  decode-thread {r.prep_ms:6.2f} ms "
                f"(CPU {r.prep_cpu_ms:6.2f})  "
                f"GUI wall {r.gui_ms:7.2f} ms  GUI CPU {r.gui_cpu_ms:7.2f} ms  "
                f"paint/tile {r.paint_ms_per_tile:6.2f} ms  total CPU {r.total_ms:7.2f} ms"
                + (f"  ({'; '.join(r.notes)})" if r.notes else ""),
                flush=True,
            )
    if args.json:
        with open(args.json, "w", encoding="utf-8") as fh:
            json.dump(
                {
                    "platform": platform,
                    "gl_renderer": renderer,
                    "cpus": os.cpu_count(),
                    "results": [asdict(r) | {"total_ms": r.total_ms} for r in results],
                },
                fh,
                indent=2,
            )
    return 0


if __name__ == "__main__":
    sys.exit(main())
