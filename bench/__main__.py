"""``python -m bench``: the wall benchmark (issue 8): PASS/FAIL per target, JSON and markdown."""

from __future__ import annotations

import argparse
import json
import shlex
import sys
import time
from pathlib import Path

from bench import run
from bench.metrics import markdown_table


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(
        prog="python -m bench",
        description="Wall benchmark: the real application against the decode floor, on a real "
        "RTSP server with live stamped streams (needs Debian's gst-rtsp-server and python3-gi).",
    )
    ap.add_argument(
        "--scenario",
        action="append",
        choices=list(run.SCENARIOS),
        help="run only these (repeatable); default: all",
    )
    ap.add_argument("--warmup", type=float, default=8.0, help="seconds before measuring")
    ap.add_argument("--seconds", type=float, default=20.0, help="seconds measured per scenario")
    ap.add_argument("--long", action="store_true", help="10-minute soak of the 4x4 wall (memory)")
    ap.add_argument("--floor", choices=["pyav", "ffmpeg"], default="pyav")
    ap.add_argument(
        "--out", type=Path, default=Path("bench-out"), help="output folder (ignored by git)"
    )
    ap.add_argument(
        "--app-path",
        type=Path,
        help="run the application from this source tree (e.g. an older commit unpacked with "
        "git archive) to compare before and after; the server and the floor stay these",
    )
    ap.add_argument(
        "--floor-box",
        action="store_true",
        help="the floor as before 2026-11: scale to the whole tile box, not the picture's "
        "size in it (more pixels: a higher floor), to compare with older tables",
    )
    args = ap.parse_args(argv)
    run.FLOOR_BOX = args.floor_box
    if args.app_path:
        run.APP_PATH = str(args.app_path.resolve())
    names = args.scenario or list(run.SCENARIOS)
    args.out.mkdir(parents=True, exist_ok=True)
    command = "python -m bench " + shlex.join(argv if argv is not None else sys.argv[1:])
    machine = run.machine_description()
    started = time.strftime("%Y-%m-%d %H:%M:%S")
    results, checks = run.run_all(
        names, args.warmup, args.seconds, args.long, args.floor, args.out / "raw"
    )
    table = markdown_table(checks)
    summaries = {name: r.summary() for name, r in results.items()}
    context = run.context_table(summaries)
    report = {
        "command": command,
        "started": started,
        "machine": machine,
        "summaries": summaries,
        "checks": [c.__dict__ | {"verdict": c.verdict} for c in checks],
    }
    (args.out / "results.json").write_text(json.dumps(report, indent=1, default=str))
    md = f"Command: `{command}` ({started})\n\nMachine: {machine}\n\n{table}\n\n{context}\n"
    (args.out / "results.md").write_text(md)
    print(md)
    return 0 if all(c.passed is not False for c in checks) else 1


if __name__ == "__main__":
    sys.exit(main())
