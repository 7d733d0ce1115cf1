"""Synthetic street scenes for the virtual cameras, rendered directly as I420 numpy pictures.

Every camera owns a procedurally generated 360-degree panorama (sky, skyline, pavement,
road), seeded from its id and built once, on first use. An optic's picture is a window
into that panorama chosen by its heading and, when motorised, by its live pan, tilt and
zoom: panning right moves the window right, so the content slides left, as on a real
dome. Cars and pedestrians move along the road in panorama coordinates, so they follow
the optics too and grow when zooming in. A caption (camera name, neighbourhood, running
clock) and the latency stamp of :mod:`app.streams.stamp` are burnt in last.

Per frame the work is one cached nearest-neighbour crop (redone only when the view
moves), a handful of rectangle fills and a small caption. Measured on the 2-core dev VM:
0.25 ms at 640x360 and 0.4 ms at 1280x720 while the view is still, 0.7 ms and 2.3 ms
while panning (bench/scene_render.py measures it, BENCHMARKS.md).
"""

from __future__ import annotations

import threading
import time
import zlib
from collections.abc import Callable
from dataclasses import dataclass

import numpy as np
import numpy.typing as npt

from app.demo.font import ADVANCE, GLYPH_H, fold, render_text, text_width
from app.demo.model import PAN_SPEED_MAX, PtzPosition, VirtualCamera, VirtualOptic
from app.streams.stamp import write_stamp

U8 = npt.NDArray[np.uint8]

PANO_W = 4096  # pixels for 360 degrees
PANO_H = 1024
GROUND = 620  # first pavement row; buildings stand on it
ROAD_TOP = 662
ROAD_BOTTOM = 900
VIEW_CY = 600  # panorama row at the centre of a level (tilt 0) view
TILT_TRAVEL = 360  # rows the view centre moves between tilt 0 and tilt +-1

DOME_HFOV = 60.0  # degrees across at zoom 0
DOME_ZOOM_MAX = 20.0
LENS_HFOV = 60.0
LENS_ZOOM_MAX = 8.0
FIXED_HFOV = 75.0

Yuv = tuple[int, int, int]


def yuv(r: int, g: int, b: int) -> Yuv:
    """BT.601 limited-range YUV of an sRGB colour (used for palettes, never per frame)."""
    y = 16 + (65.481 * r + 128.553 * g + 24.966 * b) / 255
    u = 128 + (-37.797 * r - 74.203 * g + 112.0 * b) / 255
    v = 128 + (112.0 * r - 93.786 * g - 18.214 * b) / 255
    return round(y), round(u), round(v)


_FACADES = [
    yuv(178, 84, 62),  # Cremona brick
    yuv(196, 120, 80),
    yuv(214, 180, 130),  # ochre render
    yuv(225, 205, 170),  # cream
    yuv(160, 160, 160),
    yuv(120, 110, 100),
    yuv(200, 150, 110),
    yuv(235, 225, 210),
]
_CARS = [
    yuv(200, 30, 30),
    yuv(30, 60, 170),
    yuv(230, 230, 230),
    yuv(25, 25, 25),
    yuv(120, 120, 130),
    yuv(230, 190, 20),
    yuv(40, 130, 60),
    yuv(240, 120, 20),
]
_SHIRTS = [
    yuv(220, 40, 40),
    yuv(40, 90, 220),
    yuv(250, 220, 40),
    yuv(240, 240, 240),
    yuv(40, 170, 80),
]
_SIGNS = [yuv(0, 120, 200), yuv(200, 20, 40), yuv(20, 160, 70), yuv(250, 200, 0), yuv(140, 40, 160)]
_GREEN = yuv(60, 110, 50)
_TREE = yuv(50, 100, 45)
_PAVEMENT = yuv(170, 165, 155)
_ROAD = yuv(70, 70, 75)
_GLASS = yuv(40, 50, 60)
_SKIN = yuv(220, 180, 150)
_TROUSERS = yuv(40, 40, 60)
_CAPTION_BG = (24, 128, 128)
_CAPTION_FG = 235


@dataclass(frozen=True, slots=True)
class Movers:
    """Moving objects in panorama pixels; x at time t is ``(x0 + speed * t) % PANO_W``."""

    x0: npt.NDArray[np.float64]
    speed: npt.NDArray[np.float64]
    y: npt.NDArray[np.float64]
    w: npt.NDArray[np.float64]
    h: npt.NDArray[np.float64]
    colour: tuple[Yuv, ...]
    person: npt.NDArray[np.bool_]


@dataclass(frozen=True, slots=True)
class Panorama:
    """A camera's 360-degree world: I420 planes plus the objects moving in it."""

    y: U8  # (PANO_H, PANO_W)
    u: U8  # (PANO_H // 2, PANO_W // 2)
    v: U8
    movers: Movers


def _fill(pano_y: U8, pano_u: U8, pano_v: U8, x0: int, y0: int, x1: int, y1: int, c: Yuv) -> None:
    """Fill a rectangle in panorama (or picture) planes; chroma at half resolution."""
    pano_y[y0:y1, x0:x1] = c[0]
    pano_u[y0 // 2 : (y1 + 1) // 2, x0 // 2 : (x1 + 1) // 2] = c[1]
    pano_v[y0 // 2 : (y1 + 1) // 2, x0 // 2 : (x1 + 1) // 2] = c[2]


def _generate(seed_key: str) -> Panorama:
    rng = np.random.default_rng(zlib.crc32(seed_key.encode()))
    py = np.empty((PANO_H, PANO_W), np.uint8)
    pu = np.empty((PANO_H // 2, PANO_W // 2), np.uint8)
    pv = np.empty((PANO_H // 2, PANO_W // 2), np.uint8)

    # Sky: brighter and paler towards the horizon.
    rows = np.arange(GROUND, dtype=np.float64) / GROUND
    py[:GROUND] = (120 + 90 * rows).astype(np.uint8)[:, None]
    pu[: GROUND // 2] = (160 - 25 * rows[::2]).astype(np.uint8)[:, None]
    pv[: GROUND // 2] = (112 + 10 * rows[::2]).astype(np.uint8)[:, None]
    for _ in range(14):  # clouds
        cx, cy = int(rng.integers(0, PANO_W - 300)), int(rng.integers(40, 300))
        w, h = int(rng.integers(120, 300)), int(rng.integers(20, 45))
        _fill(py, pu, pv, cx, cy, cx + w, cy + h, (225, 130, 126))
        _fill(py, pu, pv, cx + w // 5, cy - h // 2, cx + 4 * w // 5, cy, (232, 129, 127))

    # Compass letters high in the sky, so an operator sees where a dome points.
    for deg, label in zip(
        range(0, 360, 45), ("N", "NE", "E", "SE", "S", "SW", "W", "NW"), strict=True
    ):
        mask = render_text(label, 6)
        x = int(deg / 360 * PANO_W) - mask.shape[1] // 2
        xs = np.arange(x, x + mask.shape[1]) % PANO_W
        region = py[60 : 60 + mask.shape[0]][:, xs]
        region[mask] = 70
        py[60 : 60 + mask.shape[0], xs] = region

    # Skyline: a row of buildings with windows, shop signs and the odd tree.
    x = 0
    while x < PANO_W:
        w = int(rng.integers(70, 230))
        w = min(w, PANO_W - x) if PANO_W - x < 100 else w
        top = GROUND - int(rng.integers(110, 420))
        facade = _FACADES[int(rng.integers(len(_FACADES)))]
        _fill(py, pu, pv, x, top, x + w, GROUND, facade)
        _fill(py, pu, pv, x, top, x + w, top + 6, (facade[0] - 30, facade[1], facade[2]))
        win_w, win_h = int(rng.integers(10, 18)), int(rng.integers(16, 26))
        gap_x, gap_y = win_w + int(rng.integers(8, 16)), win_h + int(rng.integers(12, 22))
        for wy in range(top + 18, GROUND - 60, gap_y):
            for wx in range(x + 10, x + w - win_w - 6, gap_x):
                lit = rng.random() < 0.15
                _fill(
                    py, pu, pv, wx, wy, wx + win_w, wy + win_h, (200, 110, 150) if lit else _GLASS
                )
        if rng.random() < 0.6:  # shop sign and door at street level
            sign = _SIGNS[int(rng.integers(len(_SIGNS)))]
            _fill(py, pu, pv, x + 8, GROUND - 52, x + w - 8, GROUND - 38, sign)
            _fill(py, pu, pv, x + w // 2 - 10, GROUND - 34, x + w // 2 + 10, GROUND, _GLASS)
        if rng.random() < 0.3:
            tx = x + int(rng.integers(0, max(1, w - 40)))
            _fill(py, pu, pv, tx + 16, GROUND - 60, tx + 24, GROUND, yuv(90, 60, 40))
            _fill(py, pu, pv, tx, GROUND - 120, tx + 40, GROUND - 55, _TREE)
        x += w

    # Street: pavement, kerb, road with dashed lane markings, verge.
    _fill(py, pu, pv, 0, GROUND, PANO_W, ROAD_TOP, _PAVEMENT)
    _fill(py, pu, pv, 0, ROAD_TOP - 6, PANO_W, ROAD_TOP, (200, 128, 128))
    _fill(py, pu, pv, 0, ROAD_TOP, PANO_W, ROAD_BOTTOM, _ROAD)
    mid = (ROAD_TOP + ROAD_BOTTOM) // 2
    for dx in range(0, PANO_W, 128):
        _fill(py, pu, pv, dx, mid - 4, dx + 64, mid + 4, (220, 128, 128))
    _fill(py, pu, pv, 0, ROAD_BOTTOM, PANO_W, ROAD_BOTTOM + 8, (200, 128, 128))
    _fill(py, pu, pv, 0, ROAD_BOTTOM + 8, PANO_W, PANO_H, _GREEN)
    for dx in range(0, PANO_W, 256):  # bollards give the foreground some texture
        _fill(py, pu, pv, dx, ROAD_BOTTOM + 20, dx + 14, ROAD_BOTTOM + 70, (180, 128, 128))

    return Panorama(py, pu, pv, _movers(rng))


def _movers(rng: np.random.Generator) -> Movers:
    n_cars, n_people = 22, 26
    lane = rng.random(n_cars) < 0.5
    car_w = rng.uniform(90, 150, n_cars)
    car_h = rng.uniform(44, 60, n_cars)
    mid = (ROAD_TOP + ROAD_BOTTOM) / 2
    car_y = np.where(lane, mid - 20 - car_h, mid + 70 - car_h)
    car_speed = np.where(lane, 1.0, -1.0) * rng.uniform(90, 220, n_cars)
    ppl_h = rng.uniform(34, 44, n_people)
    return Movers(
        x0=np.concatenate([rng.uniform(0, PANO_W, n_cars), rng.uniform(0, PANO_W, n_people)]),
        speed=np.concatenate(
            [car_speed, rng.choice([-1.0, 1.0], n_people) * rng.uniform(10, 28, n_people)]
        ),
        y=np.concatenate([car_y, GROUND + rng.uniform(4, 30, n_people) - ppl_h]),
        w=np.concatenate([car_w, np.full(n_people, 12.0)]),
        h=np.concatenate([car_h, ppl_h]),
        colour=tuple(_CARS[int(i)] for i in rng.integers(len(_CARS), size=n_cars))
        + tuple(_SHIRTS[int(i)] for i in rng.integers(len(_SHIRTS), size=n_people)),
        person=np.concatenate([np.zeros(n_cars, np.bool_), np.ones(n_people, np.bool_)]),
    )


_cache: dict[str, Panorama] = {}
_cache_lock = threading.Lock()


def panorama(seed_key: str) -> Panorama:
    """The panorama for ``seed_key`` (a camera id), generated on first use (~100 ms) then shared."""
    with _cache_lock:
        pano = _cache.get(seed_key)
        if pano is None:
            pano = _generate(seed_key)
            _cache[seed_key] = pano
        return pano


@dataclass(frozen=True, slots=True)
class View:
    """A window into the panorama, in panorama pixels; ``x`` may be outside [0, PANO_W)."""

    x: float
    y: float
    w: float
    h: float


def view_for(
    kind: str, optic: VirtualOptic, optic_count: int, pos: PtzPosition, aspect: float
) -> View:
    """Where optic ``optic`` of a camera of ``kind`` looks, for the head/lens position ``pos``.

    ``aspect`` is height / width of the picture. Pan (dome only) turns the view around the
    optic's heading, tilt raises it (positive = up), zoom narrows it.
    """
    if kind == "ptz-dome":
        hfov = DOME_HFOV / DOME_ZOOM_MAX**pos.zoom
        centre_deg = optic.heading + pos.pan * 180.0
        cy = VIEW_CY - pos.tilt * TILT_TRAVEL
    else:
        base = LENS_HFOV if optic.ptz is not None else FIXED_HFOV
        if kind == "bi-optic" and optic_count == 2 and optic.index == 1:
            base /= 2.5  # the second lens of a bi-optic is the long focal length
        hfov = base / LENS_ZOOM_MAX**pos.zoom if optic.ptz is not None else base
        centre_deg = optic.heading
        cy = VIEW_CY
    w = PANO_W * hfov / 360.0
    h = w * aspect
    cy = min(max(cy, h / 2), PANO_H - h / 2)
    cx = (centre_deg % 360.0) / 360.0 * PANO_W
    return View(cx - w / 2, cy - h / 2, w, h)


class SceneRenderer:
    """Renders the live picture of one optic at one size.

    Thread: one renderer per encoder thread; not shared. ``render`` returns the same
    buffer every call (I420, shape (height * 3 // 2, width)), valid until the next call.
    """

    def __init__(
        self,
        camera: VirtualCamera,
        optic_index: int,
        width: int,
        height: int,
        *,
        stamp: bool = True,
        clock: Callable[[], float] = time.monotonic,
        wall_clock_ns: Callable[[], int] = time.time_ns,
    ) -> None:
        if width % 2 or height % 4:
            raise ValueError(f"picture size {width}x{height} must be even (height a multiple of 4)")
        self.camera = camera
        self.optic = camera.optics[optic_index]
        self.width = width
        self.height = height
        self.stamp = stamp
        self._clock = clock
        self._wall_ns = wall_clock_ns
        self._pano = panorama(camera.id)
        self._buf = np.empty((height * 3 // 2, width), np.uint8)
        self._bg = np.empty_like(self._buf)
        self._bg_key: tuple[int, int, int] | None = None
        self._scale = max(1, height // 180)
        title = camera.name
        if len(camera.optics) > 1:
            title = f"{title} - {self.optic.name}"
        self._title = self._fit(title)
        self._subtitle = camera.neighbourhood
        self._t0 = clock()

    def _fit(self, text: str, reserve: int = 0) -> str:
        max_chars = (self.width - 2 * self._margin() - reserve) // (ADVANCE * self._scale)
        text = fold(text)
        return text if len(text) <= max_chars else text[: max(0, max_chars - 2)] + ".."

    def _margin(self) -> int:
        return 4 * self._scale

    def planes(self, buf: U8) -> tuple[U8, U8, U8]:
        """Y, U, V views of an I420 buffer of this renderer's size."""
        h, w = self.height, self.width
        return (
            buf[:h],
            buf[h : h + h // 4].reshape(h // 2, w // 2),
            buf[h + h // 4 :].reshape(h // 2, w // 2),
        )

    def view(self) -> View:
        ptz = self.optic.ptz
        pos = ptz.position() if ptz is not None else PtzPosition()
        return view_for(
            self.camera.kind, self.optic, len(self.camera.optics), pos, self.height / self.width
        )

    def render(self) -> U8:
        """The picture now: background window, movers, caption, clock and stamp."""
        view = self.view()
        key = (round(view.x * 8), round(view.y * 8), round(view.w * 64))
        if key != self._bg_key:
            self._crop(view)
            self._bg_key = key
        np.copyto(self._buf, self._bg)
        y, u, v = self.planes(self._buf)
        self._draw_movers(view, y, u, v, self._clock())
        self._draw_caption(y, u, v)
        if self.stamp:
            write_stamp(y, self._wall_ns())
        return self._buf

    def _crop(self, view: View) -> None:
        """Nearest-neighbour resample of the view into the background buffer."""
        pano = self._pano
        h, w = self.height, self.width
        sy, su, sv = self.planes(self._bg)
        xs = (view.x + (np.arange(w) + 0.5) * (view.w / w)).astype(np.intp) % PANO_W
        ys = np.clip((view.y + (np.arange(h) + 0.5) * (view.h / h)).astype(np.intp), 0, PANO_H - 1)
        # Two 1-D takes are ~4x faster than one 2-D fancy index (np.ix_).
        np.take(np.take(pano.y, ys, axis=0), xs, axis=1, out=sy)
        xc, yc = xs[::2] // 2, ys[::2] // 2
        np.take(np.take(pano.u, yc, axis=0), xc, axis=1, out=su)
        np.take(np.take(pano.v, yc, axis=0), xc, axis=1, out=sv)

    def _draw_movers(self, view: View, y: U8, u: U8, v: U8, t: float) -> None:
        m = self._pano.movers
        x = (m.x0 + m.speed * t) % PANO_W
        rel = (x - view.x) % PANO_W
        rel = np.where(rel > PANO_W - m.w, rel - PANO_W, rel)
        top = m.y - view.y
        visible = (rel < view.w) & (rel + m.w > 0) & (top < view.h) & (top + m.h > 0)
        s = self.width / view.w
        for i in np.flatnonzero(visible):
            x0, x1 = round(rel[i] * s), round((rel[i] + m.w[i]) * s)
            y0, y1 = round(top[i] * s), round((top[i] + m.h[i]) * s)
            colour = m.colour[i]
            if m.person[i]:
                head = max(1, (y1 - y0) // 5)
                self._rect(y, u, v, x0, y0, x1, y0 + head, _SKIN)
                self._rect(y, u, v, x0, y0 + head, x1, (y0 + y1) // 2 + head, colour)
                self._rect(y, u, v, x0, (y0 + y1) // 2 + head, x1, y1, _TROUSERS)
            else:
                self._rect(y, u, v, x0, y0 + (y1 - y0) // 3, x1, y1, colour)
                cab = (x1 - x0) // 5
                self._rect(y, u, v, x0 + cab, y0, x1 - cab, y0 + (y1 - y0) // 3, colour)
                self._rect(y, u, v, x0 + cab + 2, y0 + 2, x1 - cab - 2, y0 + (y1 - y0) // 3, _GLASS)

    def _rect(self, y: U8, u: U8, v: U8, x0: int, y0: int, x1: int, y1: int, c: Yuv) -> None:
        x0, x1 = max(0, x0), min(self.width, x1)
        y0, y1 = max(0, y0), min(self.height, y1)
        if x0 < x1 and y0 < y1:
            _fill(y, u, v, x0, y0, x1, y1, c)

    def _draw_caption(self, y: U8, u: U8, v: U8) -> None:
        s = self._scale
        line_h = (GLYPH_H + 3) * s
        margin = self._margin()
        clock = time.strftime("%H:%M:%S", time.localtime(self._wall_ns() / 1e9))
        row1 = self.height - margin - 2 * line_h
        row2 = row1 + line_h
        self._text(y, u, v, self._title, margin, row1)
        clock_x = self.width - margin - text_width(len(clock), s)
        sub = self._fit(self._subtitle, reserve=text_width(len(clock) + 1, s))
        self._text(y, u, v, sub, margin, row2)
        self._text(y, u, v, clock, clock_x, row2)

    def _text(self, y: U8, u: U8, v: U8, text: str, x: int, top: int) -> None:
        if not text:
            return
        s = self._scale
        mask = render_text(text, s)
        pad = s
        self._rect(
            y,
            u,
            v,
            x - 2 * pad,
            top - 2 * pad,
            x + mask.shape[1] + 2 * pad,
            top + mask.shape[0] + pad,
            _CAPTION_BG,
        )
        h = min(mask.shape[0], self.height - top)
        w = min(mask.shape[1], self.width - x)
        region = y[top : top + h, x : x + w]
        region[mask[:h, :w]] = _CAPTION_FG


def pan_degrees_per_second(speed_fraction: float) -> float:
    """Angular pan speed of a dome for a ContinuousMove velocity (for docs and tests)."""
    return PAN_SPEED_MAX * 180.0 * speed_fraction
