"""``torrazzo-sim``: run the demo camera fleet of a site until Ctrl-C or SIGTERM."""

from __future__ import annotations

import argparse
import logging
import signal
import sys
import threading
from collections.abc import Sequence
from pathlib import Path
from types import FrameType

from app.demo.fleet import (
    DEFAULT_BASE_PORT,
    DEFAULT_FAULTS,
    TRANSPORTS,
    Fleet,
    ensure_demo_env,
    parse_fault,
)
from app.demo.model import Fault
from app.demo.rtsp import RelayError, RelayUnavailable
from app.demo.streaming import DEFAULT_FPS
from app.site.loader import REFERENCE_SITE, SiteError, load_site

log = logging.getLogger(__name__)


def _parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(
        prog="torrazzo-sim",
        description="Serve a site's cameras as virtual cameras on 127.0.0.1: ONVIF, "
        "live video (RTSP or MPEG-TS over HTTP) and snapshots. Camera N listens on port "
        "BASE+N; the RTSP server, when in use, on BASE.",
    )
    p.add_argument(
        "--site", type=Path, default=REFERENCE_SITE, help="site file (default: %(default)s)"
    )
    p.add_argument(
        "--port",
        type=int,
        default=DEFAULT_BASE_PORT,
        metavar="BASE",
        help="base port (default: %(default)s)",
    )
    p.add_argument(
        "--fault",
        action="append",
        default=[],
        metavar="CAM=KIND",
        help="put a fault on a camera (id or number); KIND is one of "
        + ", ".join(f.value for f in Fault)
        + "; repeatable, applied over the defaults",
    )
    p.add_argument(
        "--no-faults",
        action="store_true",
        help="start with no faults (default: "
        + ", ".join(f"cam{n:02d} {f.value}" for n, f in DEFAULT_FAULTS.items())
        + ")",
    )
    p.add_argument(
        "--transport",
        choices=TRANSPORTS,
        default="auto",
        help="video transport: rtsp (gst-rtsp-server under the system python), http "
        "(MPEG-TS, PyAV only) or auto: rtsp when available (default: %(default)s)",
    )
    p.add_argument("--fps-main", type=int, default=DEFAULT_FPS["main"])
    p.add_argument("--fps-sub", type=int, default=DEFAULT_FPS["sub"])
    p.add_argument("-v", "--verbose", action="count", default=0, help="debug logging")
    return p


def main(argv: Sequence[str] | None = None) -> int:
    parser = _parser()
    args = parser.parse_args(argv)
    level = logging.DEBUG if args.verbose else logging.INFO
    logging.basicConfig(level=level, format="%(asctime)s %(levelname)s %(name)s: %(message)s")

    faults: dict[str | int, Fault] = {}
    if not args.no_faults:
        for number, default in DEFAULT_FAULTS.items():
            faults[number] = default
    try:
        for spec in args.fault:
            key, fault = parse_fault(spec)
            faults[key] = fault
    except ValueError as exc:
        parser.error(str(exc))
    try:
        site = load_site(args.site)
    except SiteError as exc:
        sys.stderr.write(f"torrazzo-sim: {exc}\n")
        return 2
    ensure_demo_env()
    try:
        fleet = Fleet(
            site,
            args.port,
            faults,
            fps_main=args.fps_main,
            fps_sub=args.fps_sub,
            transport=args.transport,
        )
    except KeyError as exc:
        parser.error(str(exc.args[0]))
    # The handler goes in before anything is announced: a supervisor that reads the banner
    # and sends SIGTERM at once must still get a clean stop (exit 0), not the default kill.
    stop = threading.Event()

    def on_signal(signum: int, frame: FrameType | None) -> None:
        stop.set()

    previous = signal.signal(signal.SIGTERM, on_signal)
    try:
        fleet.start()
    except (RelayUnavailable, RelayError) as exc:  # --transport rtsp, and it cannot run
        signal.signal(signal.SIGTERM, previous)
        sys.stderr.write(f"torrazzo-sim: no RTSP: {exc}\n")
        return 1
    except OSError as exc:
        signal.signal(signal.SIGTERM, previous)
        sys.stderr.write(f"torrazzo-sim: cannot listen: {exc}\n")
        return 1

    out = sys.stdout
    out.write(f"torrazzo-sim: {site.name}: {len(fleet.cameras)} cameras on 127.0.0.1\n")
    for cam in fleet.cameras:
        note = "" if cam.fault == Fault.NONE else f"  [{cam.fault.value}]"
        optics = f"{len(cam.optics)} optics" if len(cam.optics) > 1 else "1 optic "
        out.write(
            f"  {cam.id:<8} {fleet.url(cam.id):<24} {cam.kind:<11} {optics}  {cam.name}{note}\n"
        )
    first = fleet.cameras[0].id if fleet.cameras else None
    if first is not None:
        base = fleet.url(first)
        video = fleet.stream_uri(first, 0, "main")
        out.write(f"video over {fleet.transport_note}\n")
        out.write(f"video: {video} (or sub); ONVIF: {base}/onvif/device_service\n")
    out.write("credentials: env TORRAZZO_DEMO_USER / TORRAZZO_DEMO_PASSWORD. Ctrl-C to stop.\n")
    out.flush()

    try:
        while not stop.wait(0.5):
            if not fleet.running:
                log.error("the fleet stopped unexpectedly")
                return 1
    except KeyboardInterrupt:
        pass
    finally:
        signal.signal(signal.SIGTERM, previous)
        fleet.stop()
    return 0


if __name__ == "__main__":
    sys.exit(main())
