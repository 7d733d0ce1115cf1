"""PTZ latency: operator input → ContinuousMove at the camera, release → Stop at the camera.

Runs the demo fleet and the real client stack (PtzSession → OnvifPtzController →
OnvifClient on the onvif-loop thread → zeep/aiohttp → HTTP → the demo's SOAP handler) in one
process, so both ends read the same ``time.perf_counter``. The camera side timestamps a
request when its SOAP handler is entered, i.e. after the whole request has been received.

    .venv/bin/python bench/ptz_latency.py [--trials 200] [--json]
"""

from __future__ import annotations

import argparse
import concurrent.futures
import json
import logging
import statistics
import sys
import threading
import time
from collections.abc import Mapping

from app.demo.fleet import Fleet, ensure_demo_env
from app.demo.httpserver import SoapHandler
from app.demo.model import VirtualCamera
from app.onvif.loop import OnvifLoop
from app.ptz.factory import PtzRegistry
from app.ptz.model import PtzVector
from app.ptz.session import PtzSession
from app.site.model import Camera, CameraKind, Neighbourhood, Site

SITE = Site(
    name="bench",
    neighbourhoods=(Neighbourhood("po", "Po"),),
    cameras=(Camera("dome", "Bench dome", "po", CameraKind.PTZ_DOME, fov=60.0),),
)


class Arrivals:
    """When each PTZ request reached the camera's SOAP handler."""

    def __init__(self) -> None:
        self.cond = threading.Condition()
        self.events: list[tuple[str, float]] = []

    def note(self, body: bytes) -> None:
        now = time.perf_counter()
        for op in (b"ContinuousMove", b"Stop"):
            if b":" + op in body or b"<" + op in body:
                with self.cond:
                    self.events.append((op.decode(), now))
                    self.cond.notify_all()

    def wait(self, op: str, after: float, timeout: float = 2.0) -> float:
        deadline = time.perf_counter() + timeout
        with self.cond:
            while True:
                for name, t in self.events:
                    if name == op and t >= after:
                        return t
                left = deadline - time.perf_counter()
                if left <= 0:
                    raise TimeoutError(f"no {op} arrived")
                self.cond.wait(left)


class ObservedFleet(Fleet):
    """The demo fleet with every SOAP request timestamped on arrival."""

    def __init__(self, site: Site, arrivals: Arrivals, **kw: object) -> None:
        super().__init__(site, **kw)  # type: ignore[arg-type]
        self.arrivals = arrivals

    def _soap_factory(self, camera: VirtualCamera, base_url: str) -> SoapHandler:
        inner = super()._soap_factory(camera, base_url)
        arrivals = self.arrivals

        class Observed:
            def handle(
                self, path: str, headers: Mapping[str, str], body: bytes
            ) -> tuple[int, str, bytes]:
                arrivals.note(body)
                return inner.handle(path, headers, body)

        return Observed()


def pct(values: list[float], p: float) -> float:
    s = sorted(values)
    return s[min(len(s) - 1, round(p / 100 * (len(s) - 1)))]


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--trials", type=int, default=200)
    ap.add_argument("--port", type=int, default=47300)
    ap.add_argument("--json", action="store_true")
    args = ap.parse_args()
    logging.basicConfig(level=logging.WARNING)
    ensure_demo_env()
    arrivals = Arrivals()
    fleet = ObservedFleet(SITE, arrivals, base_port=args.port, faults={})
    fleet.start()
    loop = OnvifLoop()
    registry = PtzRegistry(loop)
    try:
        ctl = registry.controller(fleet.site_for_client().camera("dome"))
        ctl.capabilities().result(15)
        session = PtzSession(ctl, rate_hz=10, move_timeout_s=1.0)
        for _ in range(5):  # warm the keep-alive connection and zeep's caches
            session.request(PtzVector(pan=0.3))
            time.sleep(0.12)
            session.release()
            time.sleep(0.12)
        moves, stops = [], []
        for i in range(args.trials):
            t0 = time.perf_counter()
            session.request(PtzVector(pan=0.5, tilt=0.01 * (i % 7)))
            moves.append((arrivals.wait("ContinuousMove", t0) - t0) * 1000)
            time.sleep(0.11)  # past the rate limit, so the next input is not coalesced
            t1 = time.perf_counter()
            session.release()
            stops.append((arrivals.wait("Stop", t1) - t1) * 1000)
            time.sleep(0.11)
    finally:
        concurrent.futures.wait(registry.close(), timeout=2.0)
        loop.stop()
        fleet.stop()
    result = {
        "trials": args.trials,
        "move_ms": {
            "p50": round(statistics.median(moves), 2),
            "p95": round(pct(moves, 95), 2),
            "max": round(max(moves), 2),
        },
        "stop_ms": {
            "p50": round(statistics.median(stops), 2),
            "p95": round(pct(stops, 95), 2),
            "max": round(max(stops), 2),
        },
    }
    if args.json:
        print(json.dumps(result))
    else:
        for k in ("move_ms", "stop_ms"):
            r = result[k]
            assert isinstance(r, dict)
            print(f"{k}: p50 {r['p50']} ms, p95 {r['p95']} ms, max {r['max']} ms")
    return 0


if __name__ == "__main__":
    sys.exit(main())
