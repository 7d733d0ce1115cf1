"""End to end on the GL surface, under Xvfb: the real RTSP server → StreamWorker (PyAV) →
TileFeed → a MainWindow's QtTile whose surface is a GlVideoSurface → the shader's picture.

The test server's picture (tests/servers/rtsp_server.py) has a moving grey pattern in Y and
one constant chroma per mount (U, V drawn from the mount's seed: cam1 162/189, h265 84/92),
so the hue of the whole picture is that pair. The rendered framebuffer is compared, in
coarse cells, with FFmpeg's own RGB conversion of the very frame the surface drew, and must
be clearly further from the same frame converted with U and V swapped or with the other
colour matrix.
"""

from __future__ import annotations

import os

os.environ.setdefault("QT_QPA_PLATFORM", "offscreen")

from pathlib import Path

import av
import numpy as np
import numpy.typing as npt
import pytest
from PySide6.QtGui import QGuiApplication, QImage

from app.layouts.store import WallModel, load_wall_state
from app.site.loader import load_site
from app.streams.engine import StreamEngine
from app.streams.frames import FrameRequest, PixelFormat, VideoFrame
from app.streams.status import StreamState
from app.streams.worker import StreamOptions
from tests.sites import write_rtsp_site
from tests.widgets.windows import show_main_window
from widgets import video_surface as vs
from widgets.video_surface import ColourMatrix, GlVideoSurface, auto_matrix, fit_rect

_SWS_SPACE = {ColourMatrix.BT709: "ITU709", ColourMatrix.BT601: "ITU601"}
CELLS = (16, 9)  # the picture is compared as a grid of cell means (robust to GPU scaling)


def planes(frame: VideoFrame) -> tuple[npt.NDArray[np.uint8], ...]:
    w, h = frame.width, frame.height
    flat = frame.data.reshape(-1)
    y = flat[: w * h].reshape(h, w)
    u = flat[w * h : w * h + w * h // 4].reshape(h // 2, w // 2)
    v = flat[w * h + w * h // 4 : w * h * 3 // 2].reshape(h // 2, w // 2)
    return y, u, v


def sws_rgb(frame: VideoFrame, matrix: ColourMatrix, swap_uv: bool = False) -> npt.NDArray:
    """FFmpeg's RGB of the frame's planes (optionally with U and V swapped)."""
    y, u, v = planes(frame)
    if swap_uv:
        u, v = v, u
    data = np.concatenate([y.reshape(-1), u.reshape(-1), v.reshape(-1)])
    src = av.VideoFrame.from_ndarray(data.reshape(-1, frame.width), format="yuv420p")
    return src.reformat(format="rgb24", src_colorspace=_SWS_SPACE[matrix]).to_ndarray()


def cell_means(rgb: npt.NDArray) -> npt.NDArray[np.float64]:
    """Mean colour of each cell of a CELLS grid, the border pixels of each cell left out."""
    h, w = rgb.shape[:2]
    cols, rows = CELLS
    out = np.empty((rows, cols, 3))
    for r in range(rows):
        for c in range(cols):
            y0, y1 = r * h // rows, (r + 1) * h // rows
            x0, x1 = c * w // cols, (c + 1) * w // cols
            my, mx = max(1, (y1 - y0) // 8), max(1, (x1 - x0) // 8)
            out[r, c] = rgb[y0 + my : y1 - my, x0 + mx : x1 - mx, :3].reshape(-1, 3).mean(axis=0)
    return out


def image_rgb(image: QImage) -> npt.NDArray[np.uint8]:
    image = image.convertToFormat(QImage.Format.Format_RGB888)
    w, h, stride = image.width(), image.height(), image.bytesPerLine()
    raw = np.frombuffer(image.constBits(), dtype=np.uint8, count=stride * h)
    return raw.reshape(h, stride)[:, : w * 3].reshape(h, w, 3).copy()


@pytest.fixture
def gl_window(qtbot, qapp, rtsp_server, tmp_path: Path, monkeypatch: pytest.MonkeyPatch):  # type: ignore[no-untyped-def]
    if vs.probe_gl_renderer() is None:
        pytest.skip(
            f"no OpenGL on platform {QGuiApplication.platformName()!r}: "
            "run with xvfb-run -a and QT_QPA_PLATFORM=xcb"
        )
    # llvmpipe is a software renderer, so the automatic choice would be raster: force GL.
    monkeypatch.setenv(vs.RENDERER_ENV, "gl")
    site = load_site(
        write_rtsp_site(
            tmp_path / "site.yaml", f"rtsp://127.0.0.1:{rtsp_server.port}", extra_dead=False
        )
    )
    engine = StreamEngine(StreamOptions(timeout=5.0, backoff_initial=0.2, backoff_max=1.0))
    model = WallModel(load_wall_state(tmp_path / "wall.json"), [c.id for c in site.cameras])
    win = show_main_window(qtbot, site, engine, model)
    qtbot.waitExposed(win)
    yield win
    win.close()
    assert engine.shutdown(2.0) == []


# (tile, camera, mount, codec): tile 0 shows cam1's sub stream at this size (SD: BT.601),
# tile 2 cam3's only stream, H.265 1280x720 (HD: BT.709).
CASES = [(0, "cam1", "/cam1/sub", "h264"), (2, "cam3", "/h265/main", "hevc")]


@pytest.mark.xvfb
def test_rtsp_stream_through_the_wall_into_the_gl_shader(qtbot, gl_window) -> None:  # type: ignore[no-untyped-def]
    win = gl_window
    tiles = win.wall.tiles
    shown: dict[int, list[VideoFrame]] = {}
    for index, camera_id, _mount, _codec in CASES:
        tile = tiles[index]
        assert tile.camera is not None
        assert tile.camera.id == camera_id
        (pane,) = tile.panes
        surface = pane.surface
        assert isinstance(surface, GlVideoSurface)
        frames: list[VideoFrame] = []
        shown[index] = frames
        original = surface.show_frame

        def record(frame: VideoFrame, original=original, frames=frames) -> None:  # type: ignore[no-untyped-def]
            frames.append(frame)
            original(frame)

        surface.show_frame = record  # every frame the wall hands this surface

    def enough() -> bool:
        return all(tiles[i].panes[0].surface.presented >= 10 for i, *_ in CASES)

    qtbot.waitUntil(enough, timeout=30000)

    for index, _camera_id, mount, codec in CASES:
        tile = tiles[index]
        pane = tile.panes[0]
        surface = pane.surface
        assert isinstance(surface, GlVideoSurface)
        where = f"tile {index} ({mount})"
        assert not surface.gl_failed, where
        assert surface.gl_renderer, where
        assert tile.feed.status.state == StreamState.LIVE, where
        assert tile.feed.stream is not None
        assert tile.feed.stream.url.endswith(mount), (where, tile.feed.stream.url)
        stats = tile.feed.stats()
        assert stats is not None
        assert stats.codec == codec, (where, stats.codec)

        # The worker decoded to I420 at the source size: no RGB conversion on the CPU.
        frames = shown[index]
        assert len(frames) >= 10, where
        assert all(f.format is PixelFormat.YUV420P for f in frames), where
        assert all((f.width, f.height) == (f.source_width, f.source_height) for f in frames)
        assert surface.wanted_request() == FrameRequest(PixelFormat.YUV420P, 0, 0)
        seqs = [f.seq for f in frames]
        assert seqs == sorted(set(seqs)), where  # newest wins, never twice, never backwards
        assert surface.presented >= 10
        assert tile.presented >= 10
        assert surface.last_presented_seq in seqs, where

        # The picture the shader draws now is the last frame handed over (same GUI thread).
        frame = frames[-1]
        image = surface.grabFramebuffer()
        assert frames[-1] is frame, where
        dpr = surface.devicePixelRatioF()
        dw, dh = round(surface.width() * dpr), round(surface.height() * dpr)
        assert (image.width(), image.height()) == (dw, dh), where
        rgb = image_rgb(image)
        target = fit_rect(frame.source_width, frame.source_height, dw, dh)
        assert target.width() > 200, (where, target)
        assert target.height() > 100, (where, target)
        picture = rgb[
            target.y() : target.y() + target.height(), target.x() : target.x() + target.width()
        ]

        # A moving picture, not black or one colour: the luma pattern spans a wide range.
        luma = picture.astype(np.float64).mean(axis=2)
        assert luma.mean() > 40, (where, luma.mean())
        assert np.percentile(luma, 95) - np.percentile(luma, 5) > 40, where

        # The server draws one chroma over the whole picture: the decoded planes agree.
        _y, u, v = planes(frame)
        assert u.std() < 4, (where, u.std())
        assert v.std() < 4, (where, v.std())

        # Bars above and below the 16:9 picture in this tall tile are the shader's black clear.
        assert target.y() >= 8, (where, target)
        assert rgb[: target.y() - 2].max() == 0, where
        assert rgb[target.y() + target.height() + 2 :].max() == 0, where

        matrix = auto_matrix(frame.source_width, frame.source_height)
        other = ColourMatrix.BT709 if matrix is ColourMatrix.BT601 else ColourMatrix.BT601
        got = cell_means(picture)
        want = cell_means(sws_rgb(frame, matrix))
        swapped = cell_means(sws_rgb(frame, matrix, swap_uv=True))
        wrong_matrix = cell_means(sws_rgb(frame, other))

        # Structure: cell by cell, the shader's picture is this frame's picture.
        cell_err = float(np.abs(got - want).mean())
        assert cell_err < 6, (where, cell_err)
        corr = float(np.corrcoef(got.mean(axis=2).ravel(), want.mean(axis=2).ravel())[0, 1])
        assert corr > 0.95, (where, corr)

        # Hue: the mean colour of the picture. The server's chroma is uniform, so a U/V swap
        # or the other matrix shifts every cell the same way; the mean is immune to how the
        # GPU filters the minified picture.
        mean_got = got.mean(axis=(0, 1))
        mean_want, mean_swapped, mean_wrong = (
            c.mean(axis=(0, 1)) for c in (want, swapped, wrong_matrix)
        )

        def err(a: npt.NDArray, b: npt.NDArray) -> float:
            return float(np.abs(a - b).max())  # the worst channel

        # The check can tell the mistakes apart on this stream's chroma (measured: 11-41)...
        assert err(mean_want, mean_swapped) > 8, (where, mean_want, mean_swapped)
        assert err(mean_want, mean_wrong) > 8, (where, mean_want, mean_wrong)
        # ...and the shader's colour is FFmpeg's (measured within 2), not either mistake's.
        e_ok = err(mean_got, mean_want)
        assert e_ok < 4, (where, mean_got, mean_want)
        assert err(mean_got, mean_swapped) > e_ok + 6, (where, mean_got, mean_swapped)
        assert err(mean_got, mean_wrong) > e_ok + 6, (where, mean_got, mean_wrong)
