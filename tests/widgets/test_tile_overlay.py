"""The parts of a tile's overlay image that are blitted over every video frame."""

from __future__ import annotations

import numpy as np
from PySide6.QtCore import QRect
from PySide6.QtGui import QColor, QImage, QPainter, QPen

from widgets.tile import _opaque_bands


def _overlay(w: int, h: int) -> QImage:
    """A focused tile's overlay: top bar, a badge bottom right and the focus frame."""
    image = QImage(w, h, QImage.Format.Format_ARGB32_Premultiplied)
    image.fill(0)
    p = QPainter(image)
    p.fillRect(QRect(0, 0, w, 20), QColor(0, 0, 0, 140))
    p.fillRect(QRect(w - 90, h - 26, 84, 20), QColor(0, 160, 0))
    p.setPen(QPen(QColor(60, 160, 255), 2))
    p.drawRect(QRect(0, 0, w, h).adjusted(1, 1, -1, -1))
    p.end()
    return image


def _alpha(image: QImage) -> np.ndarray:
    raw = np.frombuffer(image.constBits(), np.uint8, count=image.sizeInBytes())
    return raw.reshape(image.height(), image.bytesPerLine())[:, 3 : 4 * image.width() : 4]


def test_bands_cover_every_drawn_pixel_and_skip_the_picture(qapp) -> None:  # type: ignore[no-untyped-def]
    image = _overlay(1192, 1009)
    rects = _opaque_bands(image)
    covered = np.zeros((image.height(), image.width()), bool)
    for r in rects:
        covered[r.top() : r.bottom() + 1, r.left() : r.right() + 1] = True
    drawn = _alpha(image) > 0
    assert not (drawn & ~covered).any(), "an overlay pixel is outside every blit"
    # The middle of the picture (where the video is) is in no blit: the frame's two sides
    # are thin strips, not one band across the tile.
    assert not covered[100:900, 10:1180].any()
    assert covered.sum() < 0.1 * covered.size
    sides = [r for r in rects if r.height() > 500]
    assert len(sides) == 2
    assert all(r.width() <= 4 for r in sides)


def test_nearby_pieces_are_one_blit_trimmed_to_what_is_drawn(qapp) -> None:  # type: ignore[no-untyped-def]
    image = QImage(400, 40, QImage.Format.Format_ARGB32_Premultiplied)
    image.fill(0)
    p = QPainter(image)
    for x in (10, 20, 30):  # three "glyphs" 5 px apart, in neighbouring cells
        p.fillRect(QRect(x, 10, 5, 10), QColor(255, 255, 255))
    p.fillRect(QRect(300, 10, 20, 10), QColor(255, 255, 255))  # far away: its own blit
    p.end()
    rects = _opaque_bands(image)
    assert rects == [QRect(10, 10, 25, 10), QRect(300, 10, 20, 10)]


def test_transparent_and_empty_images_have_no_blits(qapp) -> None:  # type: ignore[no-untyped-def]
    image = QImage(50, 50, QImage.Format.Format_ARGB32_Premultiplied)
    image.fill(0)
    assert _opaque_bands(image) == []
    assert _opaque_bands(QImage()) == []
