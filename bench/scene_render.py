"""Per-frame cost of the demo's virtual camera picture beside the encode of the same frames.

The demo fleet renders each watched stream's scene in Python (numpy) and encodes it with
libx264 as the fleet's encoders do (ultrafast, zerolatency, one thread). This measures, in one
run and on the same frames, the CPU per frame of:

* render, still camera;
* render, camera panning (the panorama is resampled every frame);
* the libx264 encode of those frames (the part no Python can make cheaper).

    .venv/bin/python bench/scene_render.py [--frames 150]

Prints a markdown table; ``--json`` prints the numbers instead.
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from fractions import Fraction

import av

from app.demo.model import PtzState, VirtualCamera, VirtualOptic
from app.demo.scene import SceneRenderer
from app.demo.streaming import CRF


def encoder(width: int, height: int, fps: int = 25) -> av.video.stream.VideoStream:
    """A libx264 encoder set up as the fleet's ``Encoder`` sets up its own."""
    container = av.open("/dev/null", "w", format="mpegts")
    stream = container.add_stream(
        "libx264",
        rate=fps,
        options={
            "preset": "ultrafast",
            "tune": "zerolatency",
            "g": str(fps),
            "x264-params": f"keyint={fps}:min-keyint={fps}:scenecut=0",
            "bf": "0",
            "crf": CRF,
            "threads": "1",
        },
    )
    stream.width, stream.height, stream.pix_fmt = width, height, "yuv420p"
    stream.codec_context.time_base = Fraction(1, fps)
    return stream


def measure(width: int, height: int, frames: int) -> dict[str, float]:
    ptz = PtzState(pan_tilt=True)
    dome = VirtualCamera(
        "cam05",
        "Piazza della Sorgente",
        "Cavatigozzi",
        "ptz-dome",
        [VirtualOptic(0, "Dome", 120.0, ptz)],
    )
    renderer = SceneRenderer(dome, 0, width, height)
    renderer.render()  # the panorama and font caches, built once per stream

    def render_ms(n: int) -> tuple[float, list[object]]:
        pics = []
        t = time.thread_time()
        for _ in range(n):
            pics.append(renderer.render())
        return (time.thread_time() - t) / n * 1000, pics

    still, _ = render_ms(frames)
    ptz.continuous_move(0.5, 0.0, 0.0, timeout=None)
    moving, pics = render_ms(frames)
    ptz.stop()
    stream = encoder(width, height)
    t = time.thread_time()
    for i, pic in enumerate(pics):
        frame = av.VideoFrame.from_ndarray(pic, format="yuv420p")
        frame.pts = i
        stream.encode(frame)
    encode = (time.thread_time() - t) / len(pics) * 1000
    return {"render_still_ms": still, "render_panning_ms": moving, "encode_ms": encode}


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--frames", type=int, default=150)
    ap.add_argument("--json", action="store_true")
    args = ap.parse_args()
    results = {f"{w}x{h}": measure(w, h, args.frames) for w, h in ((640, 360), (1280, 720))}
    if args.json:
        print(json.dumps(results, indent=2))
        return 0
    print("| picture | render, still | render, panning | libx264 encode | render ÷ encode |")
    print("|---|---|---|---|---|")
    for size, r in results.items():
        ratio = r["render_panning_ms"] / r["encode_ms"]
        print(
            f"| {size} | {r['render_still_ms']:.2f} ms | {r['render_panning_ms']:.2f} ms "
            f"| {r['encode_ms']:.2f} ms | {ratio:.2f} |"
        )
    return 0


if __name__ == "__main__":
    sys.exit(main())
