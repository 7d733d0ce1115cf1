"""The ONVIF SOAP endpoint of one virtual camera: routing, authentication and the Device service."""

from __future__ import annotations

import datetime as dt
import logging
import xml.etree.ElementTree as ET
import zoneinfo
from collections.abc import Callable, Mapping

from app import __version__
from app.demo.model import Fault, VirtualCamera
from app.demo.onvif import imaging, media, ptz
from app.demo.onvif.common import ROLES, Context, Handler
from app.demo.onvif.soap import (
    CONTENT_TYPE,
    NAMESPACES,
    SoapFault,
    check_username_token,
    children,
    el,
    envelope,
    fault_body,
    parse_request,
    receiver,
    sender,
    text,
    to_bool,
    tx,
)

logger = logging.getLogger(__name__)

DEVICE_PATH = "/onvif/device_service"
MEDIA_PATH = "/onvif/media_service"
PTZ_PATH = "/onvif/ptz_service"
IMAGING_PATH = "/onvif/imaging_service"

# The local clock the cameras report; Cremona is on Italian time.
_TZ_NAME, _TZ_POSIX = "Europe/Rome", "CET-1CEST,M3.5.0,M10.5.0/3"
# Which password a camera with the wrong-password fault expects instead of the site's.
_ROTATED_SUFFIX = "-rotated"

_MODELS = {
    "ptz-dome": "TZ-D30 PTZ dome",
    "fixed-dome": "TZ-F4 fixed dome",
    "bi-optic": "TZ-M2 bi-optic",
    "quad-optic": "TZ-M4 quad-optic",
}
_VERSION = (2, 60)  # the ONVIF release the services claim


class OnvifService:
    """Answers the ONVIF SOAP requests of one VirtualCamera (Device, Media, PTZ, Imaging).

    Pure CPU and no I/O: the fleet's HTTP server calls ``handle`` for each POST.
    Thread: ``handle`` may be called from many threads at once.
    """

    def __init__(
        self,
        camera: VirtualCamera,
        *,
        username: str,
        password: str,
        stream_uri: Callable[[int, str], str],
        snapshot_uri: Callable[[int], str],
        base_url: str,
    ) -> None:
        self._camera = camera
        self._username = username
        self._password = password
        self._ctx = Context(camera, stream_uri, snapshot_uri, base_url.rstrip("/"))
        # PTZ and Imaging answer even on a camera without motors (with NoPTZProfile and
        # NoImagingForSource faults), though only cameras with motors advertise them.
        self._services: dict[str, tuple[str, dict[str, Handler]]] = {
            DEVICE_PATH: (NAMESPACES["tds"], self._device_handlers()),
            MEDIA_PATH: (NAMESPACES["trt"], media.MediaHandlers(self._ctx).handlers()),
            PTZ_PATH: (NAMESPACES["tptz"], ptz.PtzHandlers(self._ctx).handlers()),
            IMAGING_PATH: (NAMESPACES["timg"], imaging.ImagingHandlers(self._ctx).handlers()),
        }

    def handle(self, path: str, headers: Mapping[str, str], body: bytes) -> tuple[int, str, bytes]:
        """Answer one SOAP POST: (HTTP status, content type, body). Pure CPU, thread-safe."""
        path = path.split("?", 1)[0]
        if path not in self._services:
            nowhere = sender("ActionNotSupported", reason=f"no ONVIF service at {path}")
            return 404, CONTENT_TYPE, fault_body(nowhere)
        try:
            return 200, CONTENT_TYPE, envelope(self._dispatch(path, body))
        except SoapFault as f:
            return f.http_status, CONTENT_TYPE, fault_body(f)
        except Exception:
            # A bug must not take the camera's HTTP thread down: report it as a device fault.
            logger.exception("%s: ONVIF request on %s failed", self._camera.id, path)
            bug = receiver(reason="internal error")
            return bug.http_status, CONTENT_TYPE, fault_body(bug)

    def _dispatch(self, path: str, body: bytes) -> str:
        ns, handlers = self._services[path]
        request = parse_request(body)
        op = request.name
        if not (path == DEVICE_PATH and op == "GetSystemDateAndTime"):
            # The clock must be readable unauthenticated: clients need it to sign requests.
            why = check_username_token(
                request.security, self._username, self._expected_password(), _now()
            )
            if why is not None:
                logger.debug("%s: %s denied: %s", self._camera.id, op, why)
                raise sender("NotAuthorized", reason="Sender not Authorized")
        handler = handlers.get(op) if request.namespace == ns else None
        if handler is None:
            raise receiver(
                "ActionNotSupported", reason=f"{op} ({request.namespace}) is not supported here"
            )
        return handler(request.operation)

    def _expected_password(self) -> str:
        if self._camera.fault == Fault.WRONG_PASSWORD:
            return self._password + _ROTATED_SUFFIX
        return self._password

    # --- Device service ---

    def _device_handlers(self) -> dict[str, Handler]:
        return {
            "GetSystemDateAndTime": self._get_system_date_and_time,
            "GetDeviceInformation": self._get_device_information,
            "GetCapabilities": self._get_capabilities,
            "GetServices": self._get_services,
            "GetServiceCapabilities": self._get_service_capabilities,
        }

    def _get_system_date_and_time(self, op: ET.Element) -> str:
        now = _now()
        try:
            local = now.astimezone(zoneinfo.ZoneInfo(_TZ_NAME))
            tz = _TZ_POSIX
        except zoneinfo.ZoneInfoNotFoundError:  # no tz database (Windows without tzdata)
            local, tz = now, "UTC0"
        return el(
            "tds:GetSystemDateAndTimeResponse",
            el(
                "tds:SystemDateAndTime",
                tx("tt:DateTimeType", "NTP"),
                tx("tt:DaylightSavings", bool(local.dst())),
                el("tt:TimeZone", tx("tt:TZ", tz)),
                _date_time("tt:UTCDateTime", now),
                _date_time("tt:LocalDateTime", local),
            ),
        )

    def _get_device_information(self, op: ET.Element) -> str:
        cam = self._camera
        return el(
            "tds:GetDeviceInformationResponse",
            tx("tds:Manufacturer", "Torrazzo demo"),
            tx("tds:Model", _MODELS.get(cam.kind, f"TZ {cam.kind}")),
            tx("tds:FirmwareVersion", f"torrazzo-{__version__}"),
            tx("tds:SerialNumber", cam.id),
            tx("tds:HardwareId", cam.kind),
        )

    def _get_capabilities(self, op: ET.Element) -> str:
        wanted = {(c.text or "").strip() for c in children(op, "Category")} or {"All"}
        has_ptz = self._ctx.has_ptz()
        offered = {"Device", "Media"} | ({"Imaging", "PTZ"} if has_ptz else set())
        if "All" not in wanted and not wanted <= offered:
            missing = ", ".join(sorted(wanted - offered))
            raise receiver("ActionNotSupported", "NoSuchService", reason=f"no {missing} service")
        show = offered if "All" in wanted else wanted
        xaddr = self._ctx.xaddr
        caps = el(
            "tds:Capabilities",
            el("tt:Device", tx("tt:XAddr", xaddr("device"))) if "Device" in show else "",
            el("tt:Imaging", tx("tt:XAddr", xaddr("imaging"))) if "Imaging" in show else "",
            el(
                "tt:Media",
                tx("tt:XAddr", xaddr("media")),
                el(
                    "tt:StreamingCapabilities",
                    tx("tt:RTPMulticast", False),
                    tx("tt:RTP_TCP", True),
                    tx("tt:RTP_RTSP_TCP", True),
                ),
            )
            if "Media" in show
            else "",
            el("tt:PTZ", tx("tt:XAddr", xaddr("ptz"))) if "PTZ" in show else "",
        )
        return el("tds:GetCapabilitiesResponse", caps)

    def _get_services(self, op: ET.Element) -> str:
        include = to_bool(text(op, "IncludeCapability"), False)
        profiles = len(ROLES) * len(self._camera.optics)
        entries = [
            ("tds", "device", _device_capabilities()),
            ("trt", "media", media.capabilities(profiles)),
        ]
        if self._ctx.has_ptz():
            entries += [
                ("tptz", "ptz", ptz.capabilities()),
                ("timg", "imaging", imaging.capabilities()),
            ]
        services = [
            el(
                "tds:Service",
                tx("tds:Namespace", NAMESPACES[prefix]),
                tx("tds:XAddr", self._ctx.xaddr(name)),
                el("tds:Capabilities", caps) if include else "",
                el("tds:Version", tx("tt:Major", _VERSION[0]), tx("tt:Minor", _VERSION[1])),
            )
            for prefix, name, caps in entries
        ]
        return el("tds:GetServicesResponse", *services)

    def _get_service_capabilities(self, op: ET.Element) -> str:
        return el("tds:GetServiceCapabilitiesResponse", _device_capabilities())


def _now() -> dt.datetime:
    return dt.datetime.now(dt.UTC)


def _date_time(tag: str, t: dt.datetime) -> str:
    return el(
        tag,
        el("tt:Time", tx("tt:Hour", t.hour), tx("tt:Minute", t.minute), tx("tt:Second", t.second)),
        el("tt:Date", tx("tt:Year", t.year), tx("tt:Month", t.month), tx("tt:Day", t.day)),
    )


def _device_capabilities() -> str:
    return el(
        "tds:Capabilities",
        el("tds:Network", IPFilter=False, ZeroConfiguration=False, IPVersion6=False, DynDNS=False),
        el("tds:Security", UsernameToken=True, HttpDigest=False),
        el("tds:System", DiscoveryResolve=False, DiscoveryBye=False, RemoteDiscovery=False),
    )
