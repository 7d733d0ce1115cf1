"""``torrazzo ptz``: steer one dome of a site from the command line (no Qt)."""

from __future__ import annotations

import argparse
import concurrent.futures
import json
import logging
import sys
import time
from collections.abc import Sequence
from pathlib import Path

from app.onvif.errors import OnvifError
from app.onvif.loop import OnvifLoop
from app.ptz.factory import PtzRegistry
from app.ptz.model import PtzVector
from app.ptz.session import PtzSession
from app.site.loader import SiteError, load_site
from app.site.model import Camera

log = logging.getLogger(__name__)

CALL_TIMEOUT_S = 15.0


def _vector(text: str) -> PtzVector:
    try:
        pan, tilt, zoom = (float(x) for x in text.split(","))
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected PAN,TILT,ZOOM, got {text!r}") from None
    v = PtzVector(pan, tilt, zoom)
    if v.clamped() != v:
        raise argparse.ArgumentTypeError("speeds must be in [-1, 1]")
    return v


def _parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(
        prog="torrazzo ptz", description="Move a PTZ dome of a site over ONVIF."
    )
    p.add_argument("--site", type=Path, required=True, help="site file (YAML)")
    p.add_argument("camera", help="camera id")
    p.add_argument("--optic", type=int, default=1, help="optic number (default 1)")
    what = p.add_mutually_exclusive_group(required=True)
    what.add_argument("--preset", metavar="NAME", help="go to a preset (name or token)")
    what.add_argument(
        "--move", type=_vector, metavar="PAN,TILT,ZOOM", help="continuous move, speeds in [-1, 1]"
    )
    what.add_argument("--home", action="store_true", help="go to the home position")
    what.add_argument("--status", action="store_true", help="print position and presets")
    p.add_argument("--for", dest="seconds", type=float, default=1.0, help="seconds of --move")
    p.add_argument("--json", action="store_true", help="--status as JSON")
    p.add_argument("-v", "--verbose", action="store_true")
    return p


def main(argv: Sequence[str] | None = None) -> int:
    parser = _parser()
    args = parser.parse_args(argv)
    logging.basicConfig(
        level=logging.DEBUG if args.verbose else logging.WARNING,
        format="%(asctime)s %(levelname)s %(name)s: %(message)s",
    )
    try:
        site = load_site(args.site)
        camera = site.camera(args.camera)
    except SiteError as e:
        sys.stderr.write(f"{e}\n")
        return 2
    except KeyError:
        sys.stderr.write(f"torrazzo ptz: no camera {args.camera!r} in {args.site}\n")
        return 2
    if camera.onvif is None:
        sys.stderr.write(f"torrazzo ptz: {camera.id} has no ONVIF endpoint in the site file\n")
        return 2
    loop = OnvifLoop()
    registry = PtzRegistry(loop)
    try:
        return _run(args, registry, camera)
    except OnvifError as e:
        sys.stderr.write(f"torrazzo ptz: {camera.id}: {e.message}\n")
        return 1
    except concurrent.futures.TimeoutError:
        sys.stderr.write(f"torrazzo ptz: {camera.id}: no answer in {CALL_TIMEOUT_S:.0f} s\n")
        return 1
    finally:
        concurrent.futures.wait(registry.close(), timeout=2.0)
        loop.stop()


def _run(args: argparse.Namespace, registry: PtzRegistry, camera: Camera) -> int:
    ctl = registry.controller(camera, args.optic - 1)
    out = sys.stdout
    if args.status:
        status = ctl.status().result(CALL_TIMEOUT_S)
        presets = ctl.presets().result(CALL_TIMEOUT_S)
        data = {
            "camera": camera.id,
            "pan": round(status.pan, 4),
            "tilt": round(status.tilt, 4),
            "zoom": round(status.zoom, 4),
            "moving": status.moving,
            "presets": [{"token": p.token, "name": p.name} for p in presets],
        }
        if args.json:
            out.write(json.dumps(data) + "\n")
        else:
            state = "moving" if status.moving else "idle"
            out.write(
                f"{camera.id}: pan {status.pan:+.3f} tilt {status.tilt:+.3f} "
                f"zoom {status.zoom:.3f} ({state})\n"
            )
            for p in presets:
                out.write(f"  preset {p.token}: {p.name}\n")
        return 0
    if args.home:
        ctl.goto_home().result(CALL_TIMEOUT_S)
        out.write(f"{camera.id}: going home\n")
        return 0
    if args.preset is not None:
        presets = ctl.presets().result(CALL_TIMEOUT_S)
        match = [p for p in presets if args.preset in (p.name, p.token)]
        if not match:
            names = ", ".join(p.name for p in presets) or "none"
            sys.stderr.write(
                f"torrazzo ptz: {camera.id}: no preset {args.preset!r} (presets: {names})\n"
            )
            return 1
        ctl.goto_preset(match[0].token).result(CALL_TIMEOUT_S)
        out.write(f"{camera.id}: going to preset {match[0].name}\n")
        return 0
    # --move: held like a joystick, re-sent before its timeout, then stopped.
    ctl.capabilities().result(CALL_TIMEOUT_S)
    session = PtzSession(ctl)
    end = time.monotonic() + max(0.0, args.seconds)
    session.request(args.move)
    while time.monotonic() < end and session.last_error is None:
        time.sleep(0.02)
        session.tick()
    session.close()
    ctl.stop().result(CALL_TIMEOUT_S)
    if session.last_error is not None:
        raise session.last_error
    out.write(f"{camera.id}: moved for {args.seconds:g} s and stopped\n")
    return 0
