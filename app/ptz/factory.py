"""Which cameras can be steered, and their controllers: one shared ONVIF client per camera."""

from __future__ import annotations

import concurrent.futures
import logging
import threading

from app.onvif.client import OnvifClient
from app.onvif.loop import OnvifLoop, shared_loop
from app.ptz.controller import OnvifPtzController
from app.ptz.pointing import FovModel
from app.site.model import Camera, CameraKind, CredentialRef

log = logging.getLogger(__name__)


def is_steerable(camera: Camera, optic: int = 0) -> bool:
    """A PTZ dome, or a zoomable lens, that we can reach over ONVIF."""
    if camera.onvif is None:
        return False
    if camera.kind == CameraKind.PTZ_DOME:
        return True
    return optic < len(camera.optics) and camera.optics[optic].zoomable


def credential_of(camera: Camera) -> CredentialRef | None:
    """The ONVIF credential, else the one of the camera's first stream that has one."""
    if camera.onvif is not None and camera.onvif.credential is not None:
        return camera.onvif.credential
    for optic in camera.optics:
        for stream in optic.streams:
            if stream.credential is not None:
                return stream.credential
    return None


def fov_of(camera: Camera) -> FovModel:
    return FovModel(hfov_wide_deg=camera.fov or 60.0)


class PtzRegistry:
    """Controllers for a site's cameras; one OnvifClient per camera, shared by its optics.

    Thread: any.
    """

    def __init__(self, loop: OnvifLoop | None = None) -> None:
        self.loop = loop or shared_loop()
        self._lock = threading.Lock()
        self._clients: dict[str, OnvifClient] = {}
        self._controllers: dict[tuple[str, int], OnvifPtzController] = {}

    def client(self, camera: Camera) -> OnvifClient:
        if camera.onvif is None:
            raise ValueError(f"{camera.id} has no ONVIF endpoint")
        with self._lock:
            client = self._clients.get(camera.id)
            if client is None:
                ep = camera.onvif
                client = OnvifClient(
                    ep.host, ep.port, credential_of(camera), self.loop, name=camera.name
                )
                self._clients[camera.id] = client
            return client

    def controller(self, camera: Camera, optic: int = 0) -> OnvifPtzController:
        client = self.client(camera)
        with self._lock:
            ctl = self._controllers.get((camera.id, optic))
            if ctl is None:
                ctl = self._controllers[(camera.id, optic)] = OnvifPtzController(client, optic)
            return ctl

    def close(self) -> list[concurrent.futures.Future[None]]:
        """Close every client; the futures complete when their connections are closed."""
        with self._lock:
            clients = list(self._clients.values())
            self._clients.clear()
            self._controllers.clear()
        return [c.close() for c in clients]
