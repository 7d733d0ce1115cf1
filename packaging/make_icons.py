"""Renders resources/icons/torrazzo.svg to the PNG sizes the desktop and installers use."""

from __future__ import annotations

import argparse
import os
import sys
from pathlib import Path

ICONS = Path(__file__).resolve().parent.parent / "resources" / "icons"
SIZES = (16, 32, 48, 64, 128, 256)


def render(svg: Path, out_dir: Path, sizes: tuple[int, ...] = SIZES) -> list[Path]:
    """Write ``torrazzo-<size>.png`` for each size; returns the files written."""
    os.environ.setdefault("QT_QPA_PLATFORM", "offscreen")
    from PySide6.QtCore import Qt
    from PySide6.QtGui import QGuiApplication, QImage, QPainter
    from PySide6.QtSvg import QSvgRenderer

    _app = QGuiApplication.instance() or QGuiApplication([])
    renderer = QSvgRenderer(str(svg))
    if not renderer.isValid():
        raise ValueError(f"{svg}: not a valid SVG")
    written = []
    for size in sizes:
        image = QImage(size, size, QImage.Format.Format_ARGB32_Premultiplied)
        image.fill(Qt.GlobalColor.transparent)
        painter = QPainter(image)
        painter.setRenderHint(QPainter.RenderHint.Antialiasing, True)
        painter.setRenderHint(QPainter.RenderHint.SmoothPixmapTransform, True)
        renderer.render(painter)
        painter.end()
        path = out_dir / f"torrazzo-{size}.png"
        if not image.save(str(path), "PNG"):
            raise OSError(f"cannot write {path}")
        written.append(path)
    return written


def write_ico(pngs: list[Path], out: Path) -> None:
    """A Windows .ico holding the PNGs as they are (PNG-in-ICO, Vista and later)."""
    import struct

    entries, blobs = [], []
    offset = 6 + 16 * len(pngs)
    for png in pngs:
        data = png.read_bytes()
        size = int(png.stem.rsplit("-", 1)[1])
        dim = 0 if size >= 256 else size  # 0 means 256 in the ICO directory
        entries.append(struct.pack("<BBBBHHII", dim, dim, 0, 0, 1, 32, len(data), offset))
        blobs.append(data)
        offset += len(data)
    out.write_bytes(struct.pack("<HHH", 0, 1, len(pngs)) + b"".join(entries) + b"".join(blobs))


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__)
    p.add_argument("--svg", type=Path, default=ICONS / "torrazzo.svg")
    p.add_argument("--out-dir", type=Path, default=ICONS)
    args = p.parse_args(argv)
    pngs = render(args.svg, args.out_dir)
    write_ico(pngs, args.out_dir / "torrazzo.ico")
    for path in [*pngs, args.out_dir / "torrazzo.ico"]:
        sys.stdout.write(f"{path} ({path.stat().st_size} bytes)\n")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
