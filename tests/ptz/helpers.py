"""Test doubles for PTZ: a fake clock, a recording controller, and the demo fleet on free ports."""

from __future__ import annotations

import concurrent.futures
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from app.demo.fleet import Fleet, ensure_demo_env
from app.demo.model import PtzState
from app.onvif.model import PtzCapabilities, PtzPresetInfo, PtzStatus
from app.ptz.model import PtzVector
from app.site.model import Camera, CameraKind, Neighbourhood, Optic, Site
from tests.helpers import random_fleet_base

SITE = Site(
    name="PTZ test site",
    neighbourhoods=(Neighbourhood("po", "Po"),),
    cameras=(
        Camera("dome", "Largo Moreni", "po", CameraKind.PTZ_DOME, heading=40.0, fov=60.0),
        Camera(
            "quad",
            "Hospital car park",
            "po",
            CameraKind.QUAD_OPTIC,
            heading=0.0,
            optics=tuple(
                Optic(i, n, heading=90.0 * i, zoomable=True) for i, n in enumerate("NESW")
            ),
        ),
        Camera("fixed", "Via Brescia", "po", CameraKind.FIXED_DOME, heading=200.0),
        Camera("dome2", "Piazza Roma", "po", CameraKind.PTZ_DOME, heading=90.0, fov=60.0),
    ),
)


def start_fleet(site: Site = SITE, **kwargs: Any) -> Fleet:
    ensure_demo_env()
    for _ in range(30):
        fleet = Fleet(site, base_port=random_fleet_base(), faults={}, **kwargs)
        try:
            fleet.start()
        except OSError:
            continue
        return fleet
    raise RuntimeError("no free port range for the fleet")


def ptz_state(fleet: Fleet, camera: str, optic: int = 0) -> PtzState:
    state = fleet.camera(camera).optics[optic].ptz
    assert state is not None
    return state


class FakeClock:
    def __init__(self, t: float = 1000.0) -> None:
        self.t = t

    def __call__(self) -> float:
        return self.t

    def advance(self, dt: float) -> None:
        self.t += dt


def _done(value: Any) -> concurrent.futures.Future[Any]:
    f: concurrent.futures.Future[Any] = concurrent.futures.Future()
    f.set_result(value)
    return f


CAPS = PtzCapabilities(
    profile_token="p",
    node_token="n",
    pan_tilt=True,
    zoom=True,
    continuous=True,
    relative=True,
    absolute=True,
    home=True,
    max_presets=8,
)


@dataclass
class RecordingPtzController:
    """Records every command; futures complete at once (or with ``fail``)."""

    caps: PtzCapabilities = CAPS
    fail: BaseException | None = None
    calls: list[tuple[str, Any]] = field(default_factory=list)
    position: PtzStatus = field(default_factory=lambda: PtzStatus(0.0, 0.0, 0.0, False, False))

    @property
    def moves(self) -> list[PtzVector]:
        """Continuous moves and stops, a stop as PtzVector.ZERO."""
        return [
            a if k == "move" else PtzVector.ZERO for k, a in self.calls if k in ("move", "stop")
        ]

    def _result(self, value: Any) -> concurrent.futures.Future[Any]:
        if self.fail is not None:
            f: concurrent.futures.Future[Any] = concurrent.futures.Future()
            f.set_exception(self.fail)
            return f
        return _done(value)

    def capabilities(self) -> concurrent.futures.Future[PtzCapabilities]:
        return _done(self.caps)

    def continuous_move(self, v: PtzVector, timeout_s: float) -> concurrent.futures.Future[bool]:
        self.calls.append(("move", v))
        self.calls.append(("timeout", timeout_s))
        return self._result(True)

    def stop(self) -> concurrent.futures.Future[bool]:
        self.calls.append(("stop", None))
        return self._result(True)

    def relative_move(self, v: PtzVector) -> concurrent.futures.Future[bool]:
        self.calls.append(("relative", v))
        return self._result(True)

    def absolute_move(
        self, pan: float | None, tilt: float | None, zoom: float | None
    ) -> concurrent.futures.Future[bool]:
        self.calls.append(("absolute", (pan, tilt, zoom)))
        return self._result(True)

    def goto_preset(self, token: str) -> concurrent.futures.Future[bool]:
        self.calls.append(("preset", token))
        return self._result(True)

    def goto_home(self) -> concurrent.futures.Future[bool]:
        self.calls.append(("home", None))
        return self._result(True)

    def status(self) -> concurrent.futures.Future[PtzStatus]:
        return self._result(self.position)

    def presets(self) -> concurrent.futures.Future[list[PtzPresetInfo]]:
        return self._result([PtzPresetInfo("1", "Uno"), PtzPresetInfo("2", "Due")])

    def set_preset(
        self, name: str | None, token: str | None = None
    ) -> concurrent.futures.Future[str]:
        self.calls.append(("set_preset", (name, token)))
        return self._result(token or "9")


def write_site(path: Path, fleet: Fleet) -> Path:
    """A site file whose single-optic cameras point at the fleet's ports (demo credential)."""
    lines = [
        "schema_version: 1",
        "name: PTZ CLI test",
        "credentials:",
        "  demo: {username: env:TORRAZZO_DEMO_USER, password: env:TORRAZZO_DEMO_PASSWORD}",
        "neighbourhoods:",
        "  - {id: po, name: Po}",
        "cameras:",
    ]
    for camera in fleet.site_for_client().cameras:
        if camera.is_multi_optic:
            continue
        assert camera.onvif is not None
        port = camera.onvif.port
        lines += [
            f"  - id: {camera.id}",
            f"    name: {camera.name}",
            "    neighbourhood: po",
            f"    kind: {camera.kind}",
            "    credential: demo",
            f"    onvif: {{host: 127.0.0.1, port: {port}}}",
            "    streams:",
            f"      main: http://127.0.0.1:{port}/video/1/main.ts",
        ]
    path.write_text("\n".join(lines) + "\n")
    return path
