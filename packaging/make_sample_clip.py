"""Writes resources/sample/clip.mp4, the short H.264 clip that `torrazzo --smoke-test` plays."""

from __future__ import annotations

import argparse
import sys
from fractions import Fraction
from pathlib import Path

import av
import numpy as np

WIDTH, HEIGHT, FPS, SECONDS = 640, 360, 25, 2.4
DEFAULT_OUT = Path(__file__).resolve().parent.parent / "resources" / "sample" / "clip.mp4"


def frame_pixels(i: int) -> np.ndarray:
    """A test card that moves: colour bars, a sweeping bar and a frame counter in blocks.

    The bars make a wrong colour conversion or a black picture obvious in a screenshot;
    the sweep makes every frame different, so a frozen decoder cannot pass for a live one.
    """
    img = np.zeros((HEIGHT, WIDTH, 3), np.uint8)
    bars = [(235, 235, 235), (235, 235, 16), (16, 235, 235), (16, 235, 16),
            (235, 16, 235), (235, 16, 16), (16, 16, 235), (16, 16, 16)]  # fmt: skip
    bw = WIDTH // len(bars)
    for k, colour in enumerate(bars):
        img[: HEIGHT * 2 // 3, k * bw : (k + 1) * bw] = colour
    ramp = np.linspace(16, 235, WIDTH, dtype=np.uint8)
    img[HEIGHT * 2 // 3 :, :] = ramp[None, :, None]
    x = (i * 12) % (WIDTH - 24)
    img[:, x : x + 24] = (255, 140, 0)
    # The frame number as 8 binary blocks, readable by eye in a screenshot.
    for bit in range(8):
        on = (i >> bit) & 1
        x0 = 16 + bit * 28
        img[HEIGHT - 40 : HEIGHT - 16, x0 : x0 + 24] = (255, 255, 255) if on else (40, 40, 40)
    return img


def write_clip(out: Path, seconds: float = SECONDS) -> int:
    """Encode the clip; returns its size in bytes."""
    out.parent.mkdir(parents=True, exist_ok=True)
    with av.open(str(out), "w", options={"movflags": "+faststart"}) as container:
        stream = container.add_stream("libx264", rate=FPS)
        stream.width, stream.height, stream.pix_fmt = WIDTH, HEIGHT, "yuv420p"
        stream.time_base = Fraction(1, FPS)
        # One GOP of 1 s keeps seeking and looping quick; CRF 30 keeps the file small.
        stream.options = {"crf": "30", "preset": "slow", "g": str(FPS), "bf": "0"}
        for i in range(round(seconds * FPS)):
            frame = av.VideoFrame.from_ndarray(frame_pixels(i), format="rgb24")
            frame.pts = i
            for packet in stream.encode(frame):
                container.mux(packet)
        for packet in stream.encode(None):
            container.mux(packet)
    return out.stat().st_size


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__)
    p.add_argument("--out", type=Path, default=DEFAULT_OUT)
    p.add_argument("--seconds", type=float, default=SECONDS)
    args = p.parse_args(argv)
    size = write_clip(args.out, args.seconds)
    sys.stdout.write(f"{args.out}: {size / 1024:.1f} kB, {WIDTH}x{HEIGHT}, {FPS} fps\n")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
