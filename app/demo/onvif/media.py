"""ONVIF Media service (ver10) of a virtual camera: two H.264 profiles per optic."""

from __future__ import annotations

import xml.etree.ElementTree as ET

from app.demo.model import VirtualOptic
from app.demo.onvif.common import (
    BITRATE_KBPS,
    FRAME_RATE,
    GOV_LENGTH,
    RESOLUTION,
    ROLES,
    Context,
    Handler,
    profile_token,
    source_token,
)
from app.demo.onvif.ptz import ptz_configuration
from app.demo.onvif.soap import child, el, required_text, sender, text, tx, xs_duration

_URI_TIMEOUT_S = 60.0


def _video_source_configuration(optic: VirtualOptic) -> str:
    w, h = RESOLUTION["main"]
    return el(
        "tt:VideoSourceConfiguration",
        tx("tt:Name", f"Source {optic.name}"[:64]),
        tx("tt:UseCount", len(ROLES)),
        tx("tt:SourceToken", source_token(optic.index)),
        el("tt:Bounds", x=0, y=0, width=w, height=h),
        token=f"vsc{optic.index}",
    )


def _video_encoder_configuration(optic: VirtualOptic, role: str) -> str:
    w, h = RESOLUTION[role]
    return el(
        "tt:VideoEncoderConfiguration",
        tx("tt:Name", f"{optic.name} {role}"[:64]),
        tx("tt:UseCount", 1),
        tx("tt:Encoding", "H264"),
        el("tt:Resolution", tx("tt:Width", w), tx("tt:Height", h)),
        tx("tt:Quality", 5.0),
        el(
            "tt:RateControl",
            tx("tt:FrameRateLimit", FRAME_RATE),
            tx("tt:EncodingInterval", 1),
            tx("tt:BitrateLimit", BITRATE_KBPS[role]),
        ),
        el("tt:H264", tx("tt:GovLength", GOV_LENGTH), tx("tt:H264Profile", "Main")),
        el(
            "tt:Multicast",
            el("tt:Address", tx("tt:Type", "IPv4"), tx("tt:IPv4Address", "0.0.0.0")),
            tx("tt:Port", 0),
            tx("tt:TTL", 1),
            tx("tt:AutoStart", False),
        ),
        tx("tt:SessionTimeout", xs_duration(_URI_TIMEOUT_S)),
        token=f"vec{optic.index}_{role}",
    )


def _profile(tag: str, optic: VirtualOptic, role: str) -> str:
    return el(
        tag,
        tx("tt:Name", f"{optic.name} {role}"[:64]),
        _video_source_configuration(optic),
        _video_encoder_configuration(optic, role),
        ptz_configuration("tt:PTZConfiguration", optic) if optic.ptz is not None else "",
        token=profile_token(optic.index, role),
        fixed=True,
    )


def _media_uri(uri: str) -> str:
    return el(
        "trt:MediaUri",
        tx("tt:Uri", uri),
        tx("tt:InvalidAfterConnect", False),
        tx("tt:InvalidAfterReboot", False),
        tx("tt:Timeout", xs_duration(_URI_TIMEOUT_S)),
    )


def capabilities(profiles: int) -> str:
    return el(
        "trt:Capabilities",
        el("trt:ProfileCapabilities", MaximumNumberOfProfiles=profiles),
        el("trt:StreamingCapabilities", RTPMulticast=False, RTP_TCP=True, RTP_RTSP_TCP=True),
        SnapshotUri=True,
        Rotation=False,
        VideoSourceMode=False,
        OSD=False,
    )


class MediaHandlers:
    """The operations of /onvif/media_service."""

    def __init__(self, ctx: Context) -> None:
        self._ctx = ctx

    def handlers(self) -> dict[str, Handler]:
        return {
            "GetServiceCapabilities": self.get_service_capabilities,
            "GetProfiles": self.get_profiles,
            "GetProfile": self.get_profile,
            "GetVideoSources": self.get_video_sources,
            "GetStreamUri": self.get_stream_uri,
            "GetSnapshotUri": self.get_snapshot_uri,
        }

    def get_service_capabilities(self, op: ET.Element) -> str:
        profiles = len(ROLES) * len(self._ctx.camera.optics)
        return el("trt:GetServiceCapabilitiesResponse", capabilities(profiles))

    def get_profiles(self, op: ET.Element) -> str:
        profiles = [
            _profile("trt:Profiles", o, role) for o in self._ctx.camera.optics for role in ROLES
        ]
        return el("trt:GetProfilesResponse", *profiles)

    def get_profile(self, op: ET.Element) -> str:
        optic, role = self._ctx.optic_of_profile(required_text(op, "ProfileToken"))
        return el("trt:GetProfileResponse", _profile("trt:Profile", optic, role))

    def get_video_sources(self, op: ET.Element) -> str:
        w, h = RESOLUTION["main"]
        sources = [
            el(
                "trt:VideoSources",
                tx("tt:Framerate", float(FRAME_RATE)),
                el("tt:Resolution", tx("tt:Width", w), tx("tt:Height", h)),
                token=source_token(o.index),
            )
            for o in self._ctx.camera.optics
        ]
        return el("trt:GetVideoSourcesResponse", *sources)

    def get_stream_uri(self, op: ET.Element) -> str:
        optic, role = self._ctx.optic_of_profile(required_text(op, "ProfileToken"))
        setup = child(op, "StreamSetup")
        stream = text(setup, "Stream")
        if stream is not None and stream != "RTP-Unicast":
            raise sender(
                "InvalidArgVal", "InvalidStreamSetup", reason=f"only RTP-Unicast, not {stream}"
            )
        return el("trt:GetStreamUriResponse", _media_uri(self._ctx.stream_uri(optic.index, role)))

    def get_snapshot_uri(self, op: ET.Element) -> str:
        optic, _ = self._ctx.optic_of_profile(required_text(op, "ProfileToken"))
        return el("trt:GetSnapshotUriResponse", _media_uri(self._ctx.snapshot_uri(optic.index)))
