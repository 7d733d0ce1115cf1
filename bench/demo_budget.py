"""Measure the demo fleet's CPU while the real client shows a 3x3 wall of its cameras.

Runs `torrazzo-sim` (the virtual cameras) and `torrazzo --site cremona.yaml --layout 3x3`
as two processes, so each one's CPU is counted on its own, and prints a markdown row.

    .venv/bin/python bench/demo_budget.py [--seconds 30]
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import psutil

ROOT = Path(__file__).resolve().parent.parent


def main() -> int:
    ap = argparse.ArgumentParser()
    ap.add_argument("--seconds", type=float, default=30)
    args = ap.parse_args()
    env = {
        **os.environ,
        "QT_QPA_PLATFORM": "offscreen",
        "TORRAZZO_DEMO_USER": "operator",
        "TORRAZZO_DEMO_PASSWORD": "demo-cremona",
    }
    bindir = Path(sys.executable).parent
    sim = subprocess.Popen(
        [bindir / "torrazzo-sim", "--no-faults"],
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
    )
    try:
        time.sleep(2.0)
        with tempfile.TemporaryDirectory() as tmp:
            stats = Path(tmp) / "stats.json"
            app = subprocess.Popen(
                [
                    bindir / "torrazzo",
                    "--site",
                    str(ROOT / "resources/sites/cremona.yaml"),
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
            c_sim0, c_app0 = ps_sim.cpu_times(), ps_app.cpu_times()
            time.sleep(args.seconds)
            c_sim1, c_app1 = ps_sim.cpu_times(), ps_app.cpu_times()
            span = time.monotonic() - t0
            app.wait(timeout=60)
            tiles = json.loads(stats.read_text())["tiles"]
    finally:
        sim.terminate()
        sim.wait(timeout=10)
    sim_cpu = (c_sim1.user + c_sim1.system - c_sim0.user - c_sim0.system) / span * 100
    app_cpu = (c_app1.user + c_app1.system - c_app0.user - c_app0.system) / span * 100
    for t in tiles:
        if t["status"] != "live":
            print(f"tile {t['camera']}: {t['status']} {t['reason']}", file=sys.stderr)
    live = sum(1 for t in tiles if t["status"] == "live")
    fps = [t["fps_presented"] for t in tiles]
    lat = [t["latency_ms_median"] for t in tiles if t["latency_ms_median"] is not None]
    print("| process | CPU (% of one core) |")
    print("|---|---|")
    print(f"| demo fleet (`torrazzo-sim`), 9 sub streams encoded | {sim_cpu:.0f} % |")
    print(f"| client (`torrazzo`), 3x3 wall decoding and showing them | {app_cpu:.0f} % |")
    both = (sim_cpu + app_cpu) / (psutil.cpu_count() or 1)
    print(f"| both, of the machine's {psutil.cpu_count()} cores | {both:.0f} % |")
    print(
        f"\n{live}/9 tiles live, presented fps per tile {min(fps):.1f}-{max(fps):.1f}, "
        f"latency median {min(lat or [0]):.0f}-{max(lat or [0]):.0f} ms over {span:.0f} s"
    )
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
