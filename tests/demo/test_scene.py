"""Synthetic scenes: picture layout, stamp, caption, PTZ geometry and rendering cost."""

from __future__ import annotations

import logging

import numpy as np
import numpy.typing as npt
import pytest

from app.demo.font import fold, render_text
from app.demo.model import PtzPosition, PtzState, VirtualCamera, VirtualOptic
from app.demo.scene import DOME_HFOV, SceneRenderer, pan_degrees_per_second, panorama
from app.streams.stamp import read_stamp

log = logging.getLogger(__name__)


class FakeClock:
    def __init__(self) -> None:
        self.t = 1000.0

    def __call__(self) -> float:
        return self.t


def dome(cam_id: str = "cam01", clock: FakeClock | None = None) -> VirtualCamera:
    ptz = PtzState(pan_tilt=True, clock=clock) if clock else PtzState(pan_tilt=True)
    return VirtualCamera(
        cam_id,
        "Piazza della Sorgente",
        "Cavatigozzi",
        "ptz-dome",
        [VirtualOptic(0, "Dome", 120.0, ptz)],
    )


def quad(clock: FakeClock) -> VirtualCamera:
    optics = [
        VirtualOptic(i, name, 90.0 * i, PtzState(pan_tilt=False, clock=clock))
        for i, name in enumerate(("North", "East", "South", "West"))
    ]
    return VirtualCamera("cam10", "Piazza Albero della Libertà", "Giuseppina", "quad-optic", optics)


def luma(picture: npt.NDArray[np.uint8], height: int) -> npt.NDArray[np.int16]:
    return picture[:height].astype(np.int16)


def best_shift(before: npt.NDArray[np.int16], after: npt.NDArray[np.int16], max_shift: int) -> int:
    """The s minimising |after[:, x] - before[:, x + s]|: s > 0 means content moved left."""
    width = before.shape[1]
    errors = {}
    for s in range(-max_shift, max_shift + 1):
        a = after[:, max(0, -s) : width - max(0, s)]
        b = before[:, max(0, s) : width + min(0, s)]
        errors[s] = float(np.mean(np.abs(a - b)))
    return min(errors, key=errors.__getitem__)


def test_picture_is_i420_with_stamp_and_caption() -> None:
    clock = FakeClock()
    r = SceneRenderer(
        dome(clock=clock), 0, 640, 360, clock=clock, wall_clock_ns=lambda: 1_700_000_000_123_456_789
    )
    pic = r.render()
    assert pic.shape == (540, 640)
    assert pic.dtype == np.uint8
    assert read_stamp(pic[:360]) == 1_700_000_000_123_456_789
    # The caption's white glyph pixels sit on a dark box at the bottom left.
    caption = pic[300:360, :300]
    assert (caption == 235).sum() > 200
    assert (caption == 24).sum() > 1000
    no_stamp = SceneRenderer(dome(clock=clock), 0, 640, 360, clock=clock, stamp=False).render()
    assert read_stamp(no_stamp[:360]) is None


def test_panorama_is_seeded_by_camera_id() -> None:
    a, b, c = panorama("cam01"), panorama("cam01"), panorama("cam02")
    assert a is b
    assert not np.array_equal(a.y, c.y)
    assert a.y.shape == (1024, 4096)


def test_pan_right_moves_content_left() -> None:
    clock = FakeClock()
    cam = dome(clock=clock)
    r = SceneRenderer(cam, 0, 640, 360, clock=clock, stamp=False)
    before = luma(r.render(), 360)[24:150].copy()
    ptz = cam.optics[0].ptz
    assert ptz is not None
    ptz.continuous_move(0.2, 0.0, 0.0, timeout=0.5)
    clock.t += 1.0  # the move times out after 0.5 s
    after = luma(r.render(), 360)[24:150]
    expected = pan_degrees_per_second(0.2) * 0.5 / DOME_HFOV * 640  # 12 degrees = 128 px
    shift = best_shift(before, after, 250)
    assert abs(shift - expected) <= 3, (shift, expected)


def test_tilt_up_moves_content_down_and_zoom_magnifies() -> None:
    clock = FakeClock()
    cam = dome(clock=clock)
    ptz = cam.optics[0].ptz
    assert ptz is not None
    r = SceneRenderer(cam, 0, 640, 360, clock=clock, stamp=False)
    before = luma(r.render(), 360)[20:300].copy()
    ptz.absolute_move(PtzPosition(0.0, 0.1, 0.0))
    clock.t += 5.0
    after = luma(r.render(), 360)[20:300]
    shift = best_shift(before.T.copy(), after.T.copy(), 80)
    assert shift < -20  # rows moved down: the view looks higher

    ptz.absolute_move(PtzPosition(0.0, 0.0, 0.0))
    clock.t += 5.0
    wide = luma(r.render(), 360)
    ptz.absolute_move(PtzPosition(0.0, 0.0, 0.25))
    clock.t += 5.0
    tele = luma(r.render(), 360)
    factor = 20**0.25
    # The zoomed picture is the centre of the wide one, magnified about the centre.
    xs = np.clip(((np.arange(640) + 0.5 - 320) / factor + 320).astype(int), 0, 639)
    ys = np.clip(((np.arange(360) + 0.5 - 180) / factor + 180).astype(int), 0, 359)
    predicted = wide[np.ix_(ys, xs)]
    band = slice(30, 280)
    err_pred = np.mean(np.abs(tele[band] - predicted[band]))
    err_same = np.mean(np.abs(tele[band] - wide[band]))
    assert err_pred < 0.5 * err_same, (err_pred, err_same)


def test_multi_optic_views_differ_and_lens_zooms() -> None:
    clock = FakeClock()
    cam = quad(clock)
    pics = [
        luma(SceneRenderer(cam, i, 640, 360, clock=clock, stamp=False).render(), 300)
        for i in range(4)
    ]
    for i in range(4):
        for j in range(i + 1, 4):
            assert np.mean(np.abs(pics[i] - pics[j])) > 10
    lens = cam.optics[1].ptz
    assert lens is not None
    lens.continuous_move(1.0, 1.0, 1.0, timeout=None)  # pan/tilt ignored by a zoom-only lens
    clock.t += 1.0
    lens.stop()
    assert lens.position() == PtzPosition(0.0, 0.0, pytest.approx(0.25))
    zoomed = luma(SceneRenderer(cam, 1, 640, 360, clock=clock, stamp=False).render(), 300)
    assert np.mean(np.abs(zoomed - pics[1])) > 10


def test_font_folds_accents_and_case() -> None:
    assert fold("Libertà, via S. Rocco") == "LIBERTA, VIA S. ROCCO"
    assert fold("Ω") == "?"
    mask = render_text("12:34", 2)
    assert mask.shape == (14, (5 * 6 - 1) * 2)
    assert mask.any()
