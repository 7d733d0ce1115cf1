"""What the ONVIF operation handlers share: the camera, its URLs, and profile/source tokens."""

from __future__ import annotations

import re
import threading
import xml.etree.ElementTree as ET
from collections.abc import Callable
from dataclasses import dataclass, field

from app.demo.model import PtzState, VirtualCamera, VirtualOptic
from app.demo.onvif.soap import SoapFault, receiver, sender

# An operation handler takes the request's operation element and returns the response
# element as serialised XML (or raises SoapFault).
Handler = Callable[[ET.Element], str]

ROLES = ("main", "sub")
RESOLUTION = {"main": (1280, 720), "sub": (640, 360)}
FRAME_RATE = 25
BITRATE_KBPS = {"main": 4096, "sub": 512}
GOV_LENGTH = 50

_PROFILE = re.compile(r"^profile_(\d+)_(main|sub)$")
_SOURCE = re.compile(r"^vs(\d+)$")


@dataclass
class Context:
    """One camera as seen by its ONVIF handlers.

    Thread: handlers run concurrently from the fleet's HTTP threads; ``lock`` guards the
    state that PtzState's own lock does not (presets, home, focus).
    """

    camera: VirtualCamera
    stream_uri: Callable[[int, str], str]
    snapshot_uri: Callable[[int], str]
    base_url: str
    lock: threading.RLock = field(default_factory=threading.RLock)

    def xaddr(self, service: str) -> str:
        return f"{self.base_url}/onvif/{service}_service"

    def optic(self, index: int) -> VirtualOptic | None:
        return next((o for o in self.camera.optics if o.index == index), None)

    def optic_of_profile(self, token: str) -> tuple[VirtualOptic, str]:
        m = _PROFILE.match(token)
        optic = self.optic(int(m.group(1))) if m else None
        if m is None or optic is None:
            raise sender("InvalidArgVal", "NoProfile", reason=f"no profile {token!r}")
        return optic, m.group(2)

    def optic_of_source(self, token: str) -> VirtualOptic:
        m = _SOURCE.match(token)
        optic = self.optic(int(m.group(1))) if m else None
        if m is None or optic is None:
            raise sender("InvalidArgVal", "NoSource", reason=f"no video source {token!r}")
        return optic

    def ptz_of_profile(self, token: str) -> tuple[VirtualOptic, PtzState]:
        optic, _ = self.optic_of_profile(token)
        if optic.ptz is None:
            raise no_ptz(token)
        return optic, optic.ptz

    def has_ptz(self) -> bool:
        return any(o.ptz is not None for o in self.camera.optics)


def no_ptz(token: str) -> SoapFault:
    return receiver(
        "ActionNotSupported", "NoPTZProfile", reason=f"profile {token!r} has no PTZ configuration"
    )


def profile_token(optic: int, role: str) -> str:
    return f"profile_{optic}_{role}"


def source_token(optic: int) -> str:
    return f"vs{optic}"


def ptz_node_token(optic: int) -> str:
    return f"ptz_node_{optic}"


def ptz_config_token(optic: int) -> str:
    return f"ptz_cfg_{optic}"
