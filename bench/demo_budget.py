"""Measure the demo fleet's CPU while the real client shows a 3x3 wall of its cameras.

Runs `torrazzo-sim` (the virtual cameras) and `torrazzo --site cremona.yaml --layout 3x3`
as two processes, so each one's CPU is counted on its own (the sim's RTSP relay child with
the sim), and prints a markdown table. ``--transport rtsp`` serves the video through the
gst-rtsp-server relay and points a copy of the site file at its rtsp:// URLs.

    .venv/bin/python bench/demo_budget.py [--seconds 30] [--transport http|rtsp]
"""

from __future__ import annotations

import argparse
import json
import os
import re
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import psutil

ROOT = Path(__file__).resolve().parent.parent
SITE = ROOT / "resources/sites/cremona.yaml"
BASE_PORT = 18100  # torrazzo-sim's default, which the site file's URLs use


def rtsp_site(tmp: Path) -> Path:
    """A copy of the site file whose HTTP stream URLs point at the relay's rtsp:// mounts."""
    sys.path.insert(0, str(ROOT))
    from app.site.loader import load_site

    ids = [c.id for c in load_site(SITE).cameras]

    def to_rtsp(m: re.Match[str]) -> str:
        camera = ids[int(m.group(1)) - BASE_PORT - 1]
        return f"rtsp://127.0.0.1:{BASE_PORT}/{camera}/{m.group(2)}/{m.group(3)}"

    text = re.sub(
        r"http://127\.0\.0\.1:(\d+)/video/(\d+)/(main|sub)\.ts", to_rtsp, SITE.read_text()
    )
    out = tmp / "cremona-rtsp.yaml"
    out.write_text(text)
    return out


def cpu(proc: psutil.Process) -> float:
    """User + system seconds of a process and its children (the RTSP relay)."""
    total = 0.0
    for p in [proc, *proc.children(recursive=True)]:
        try:
            t = p.cpu_times()
        except psutil.NoSuchProcess:
            continue
        total += t.user + t.system
    return total


def main() -> int:
    ap = argparse.ArgumentParser()
    ap.add_argument("--seconds", type=float, default=30)
    ap.add_argument("--transport", choices=["http", "rtsp"], default="http")
    args = ap.parse_args()
    env = {
        **os.environ,
        "QT_QPA_PLATFORM": "offscreen",
        "TORRAZZO_DEMO_USER": "operator",
        "TORRAZZO_DEMO_PASSWORD": "demo-cremona",
    }
    bindir = Path(sys.executable).parent
    sim = subprocess.Popen(
        [bindir / "torrazzo-sim", "--no-faults", "--transport", args.transport],
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
    )
    try:
        time.sleep(2.0)
        with tempfile.TemporaryDirectory() as tmp:
            stats = Path(tmp) / "stats.json"
            site = rtsp_site(Path(tmp)) if args.transport == "rtsp" else SITE
            app = subprocess.Popen(
                [
                    bindir / "torrazzo",
                    "--site",
                    str(site),
                    "--layout",
                    "3x3",
                    "--run-seconds",
                    str(args.seconds + 5),
                    "--stats-json",
                    str(stats),
                    "--state-dir",
                    tmp,
                ],
                env=env,
            )
            ps_sim, ps_app = psutil.Process(sim.pid), psutil.Process(app.pid)
            time.sleep(5.0)  # connect and settle; measure the steady state only
            t0 = time.monotonic()
            c_sim0, c_app0 = cpu(ps_sim), cpu(ps_app)
            time.sleep(args.seconds)
            c_sim1, c_app1 = cpu(ps_sim), cpu(ps_app)
            span = time.monotonic() - t0
            app.wait(timeout=60)
            tiles = json.loads(stats.read_text())["tiles"]
    finally:
        sim.terminate()
        sim.wait(timeout=10)
    sim_cpu = (c_sim1 - c_sim0) / span * 100
    app_cpu = (c_app1 - c_app0) / span * 100
    for t in tiles:
        if t["status"] != "live":
            print(f"tile {t['camera']}: {t['status']} {t['reason']}", file=sys.stderr)
    live = sum(1 for t in tiles if t["status"] == "live")
    fps = [t["fps_presented"] for t in tiles]
    lat = [t["latency_ms_median"] for t in tiles if t["latency_ms_median"] is not None]
    print("| process | CPU (% of one core) |")
    print("|---|---|")
    relay = " and relayed over RTSP" if args.transport == "rtsp" else ""
    print(f"| demo fleet (`torrazzo-sim`), 9 sub streams encoded{relay} | {sim_cpu:.0f} % |")
    print(f"| client (`torrazzo`), 3x3 wall decoding and showing them | {app_cpu:.0f} % |")
    both = (sim_cpu + app_cpu) / (psutil.cpu_count() or 1)
    print(f"| both, of the machine's {psutil.cpu_count()} cores | {both:.0f} % |")
    print(
        f"\n{args.transport}: {live}/9 tiles live, "
        f"presented fps per tile {min(fps):.1f}-{max(fps):.1f}, "
        f"latency median {min(lat or [0]):.0f}-{max(lat or [0]):.0f} ms over {span:.0f} s"
    )
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
