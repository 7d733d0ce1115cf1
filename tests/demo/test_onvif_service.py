"""The demo cameras' ONVIF service, driven by the real onvif-zeep-async client over HTTP."""

from __future__ import annotations

import asyncio
import datetime as dt
import socket
import time
import xml.etree.ElementTree as ET
from collections.abc import AsyncIterator, Callable
from contextlib import asynccontextmanager
from pathlib import Path
from typing import Any

import httpx
import pytest
from onvif import ONVIFCamera
from onvif.exceptions import ONVIFError
from onvif.util import is_auth_error
from zeep.exceptions import Fault as ZeepFault

from app.demo.fleet import Fleet
from app.demo.model import Fault, PtzState, VirtualCamera, VirtualOptic
from app.demo.onvif import OnvifService
from app.site.loader import load_site
from app.site.model import Site
from tests.demo.onvif_testserver import OnvifTestServer, schema_errors
from tests.helpers import random_fleet_base

pytestmark = [pytest.mark.anyio, pytest.mark.timeout(60)]

USER, PASSWORD = "operatore", "segreto"
NS = {
    "device": "http://www.onvif.org/ver10/device/wsdl",
    "media": "http://www.onvif.org/ver10/media/wsdl",
    "ptz": "http://www.onvif.org/ver20/ptz/wsdl",
    "imaging": "http://www.onvif.org/ver20/imaging/wsdl",
}
RTSP = "rtsp://127.0.0.1:8554/{cam}/{optic}/{role}"


@pytest.fixture
def anyio_backend() -> str:
    return "asyncio"  # aiohttp, under onvif-zeep-async, needs asyncio


def dome(clock: Callable[[], float] = time.monotonic) -> VirtualCamera:
    return VirtualCamera(
        "cr-ptz-01",
        "Piazza del Comune",
        "Centro",
        "ptz-dome",
        [VirtualOptic(0, "Dome", 0.0, ptz=PtzState(clock=clock))],
    )


def quad() -> VirtualCamera:
    optics = [
        VirtualOptic(i, f"Lens {i}", 90.0 * i, ptz=PtzState(pan_tilt=False)) for i in range(4)
    ]
    return VirtualCamera("cr-quad-01", "Largo Boccaccino", "Centro", "quad-optic", optics)


def fixed() -> VirtualCamera:
    return VirtualCamera(
        "cr-fix-01", "Via Solferino", "Centro", "fixed-dome", [VirtualOptic(0, "Fixed", 180.0)]
    )


@asynccontextmanager
async def serve(camera: VirtualCamera, **kwargs: Any) -> AsyncIterator[OnvifTestServer]:
    with OnvifTestServer(
        camera,
        username=USER,
        password=PASSWORD,
        stream_uri=lambda i, role: RTSP.format(cam=camera.id, optic=i, role=role),
        **kwargs,
    ) as srv:
        yield srv
        # Every answer the client got, faults aside, must match the ONVIF schema.
        assert srv.invalid == []


@asynccontextmanager
async def client(
    srv: OnvifTestServer, password: str = PASSWORD, *, discover: bool = True, **kwargs: Any
) -> AsyncIterator[ONVIFCamera]:
    cam = ONVIFCamera("127.0.0.1", srv.port, USER, password, no_cache=True, **kwargs)
    try:
        if discover:
            await cam.update_xaddrs()
        else:
            # Skip discovery (it needs auth); point every service at the camera directly.
            cam.xaddrs = {ns: f"{srv.base_url}/onvif/{name}_service" for name, ns in NS.items()}
        yield cam
    finally:
        await cam.close()


async def until(check: Callable[[], Any], timeout: float = 5.0) -> Any:
    """Poll an async check until it returns something truthy, or fail after ``timeout`` s."""
    deadline = time.monotonic() + timeout
    while True:
        result = await check()
        if result:
            return result
        assert time.monotonic() < deadline, "condition not met in time"
        await asyncio.sleep(0.02)


def subcodes(fault: ZeepFault) -> list[str]:
    return [q.localname for q in fault.subcodes or []]


def pos(status: Any) -> tuple[float, float, float]:
    pt = status.Position.PanTilt
    return (pt.x if pt else 0.0, pt.y if pt else 0.0, status.Position.Zoom.x)


def near(a: tuple[float, ...], b: tuple[float, ...], tol: float = 1e-4) -> bool:
    return all(abs(x - y) <= tol for x, y in zip(a, b, strict=True))


class ManualClock:
    """A PtzState clock that moves only when told, so long moves finish at once."""

    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now

    def advance(self, seconds: float) -> None:
        self.now += seconds


# --- Device -------------------------------------------------------------------------------------


async def test_device_information_clock_and_discovery() -> None:
    camera = dome()
    async with serve(camera) as srv, client(srv) as cam:
        assert cam.xaddrs == {ns: f"{srv.base_url}/onvif/{n}_service" for n, ns in NS.items()}
        dev = await cam.create_devicemgmt_service()

        info = await dev.GetDeviceInformation()
        assert info.Manufacturer == "Torrazzo demo"
        assert "PTZ" in info.Model
        assert info.SerialNumber == "cr-ptz-01"
        assert info.HardwareId == "ptz-dome"
        assert info.FirmwareVersion

        # The clock is readable without credentials, as clients need it to sign requests.
        clock = await dev.authless_GetSystemDateAndTime()
        u = clock.UTCDateTime
        device_now = dt.datetime(
            u.Date.Year, u.Date.Month, u.Date.Day, u.Time.Hour, u.Time.Minute, u.Time.Second,
            tzinfo=dt.UTC,
        )  # fmt: skip
        assert abs((device_now - dt.datetime.now(dt.UTC)).total_seconds()) < 3
        assert clock.TimeZone.TZ.startswith("CET-1CEST")

        caps = await dev.GetCapabilities({"Category": "All"})
        assert caps.Media.XAddr == f"{srv.base_url}/onvif/media_service"
        assert caps.PTZ.XAddr == f"{srv.base_url}/onvif/ptz_service"
        assert caps.Imaging.XAddr == f"{srv.base_url}/onvif/imaging_service"
        only_ptz = await dev.GetCapabilities({"Category": ["PTZ"]})
        assert only_ptz.PTZ.XAddr.endswith("/onvif/ptz_service")
        assert only_ptz.Media is None

        services = await dev.GetServices({"IncludeCapability": True})
        assert {s.Namespace for s in services} == set(NS.values())
        assert all(s.Version.Major == 2 for s in services)

        assert (await cam.get_capabilities())["PTZ"]["XAddr"].endswith("/onvif/ptz_service")


async def test_adjust_time_and_password_text_clients_work() -> None:
    async with serve(dome()) as srv:
        async with client(srv, adjust_time=True) as cam:
            assert cam.dt_diff is not None
            assert abs(cam.dt_diff.total_seconds()) < 3
            dev = await cam.create_devicemgmt_service()
            assert (await dev.GetDeviceInformation()).SerialNumber == "cr-ptz-01"
        async with client(srv, encrypt=False) as cam:  # PasswordText instead of digest
            dev = await cam.create_devicemgmt_service()
            assert (await dev.GetDeviceInformation()).SerialNumber == "cr-ptz-01"


async def test_fixed_dome_advertises_no_ptz_and_refuses_it() -> None:
    async with serve(fixed()) as srv, client(srv) as cam:
        assert NS["ptz"] not in cam.xaddrs
        assert NS["imaging"] not in cam.xaddrs
        with pytest.raises(ONVIFError):
            await cam.create_ptz_service()
        dev = await cam.create_devicemgmt_service()
        with pytest.raises(ZeepFault) as e:
            await dev.GetCapabilities({"Category": ["PTZ"]})
        assert subcodes(e.value) == ["ActionNotSupported", "NoSuchService"]
        caps = await dev.GetCapabilities({"Category": "All"})
        assert caps.PTZ is None
        assert caps.Imaging is None

    async with serve(fixed()) as srv, client(srv, discover=False) as cam:
        ptz = await cam.create_ptz_service()
        with pytest.raises(ZeepFault) as e:
            await ptz.GetStatus({"ProfileToken": "profile_0_main"})
        assert subcodes(e.value) == ["ActionNotSupported", "NoPTZProfile"]
        imaging = await cam.create_imaging_service()
        settings = await imaging.GetImagingSettings({"VideoSourceToken": "vs0"})
        assert settings.Focus is None
        assert settings.Brightness == 50
        with pytest.raises(ZeepFault) as e:
            await imaging.GetStatus({"VideoSourceToken": "vs0"})
        assert subcodes(e.value) == ["ActionNotSupported", "NoImagingForSource"]
        media = await cam.create_media_service()
        (profile,) = [p for p in await media.GetProfiles() if p.token == "profile_0_main"]
        assert profile.PTZConfiguration is None


# --- Media --------------------------------------------------------------------------------------


async def test_profiles_sources_and_uris() -> None:
    snapshots: list[int] = []

    def snapshot_uri(i: int) -> str:
        snapshots.append(i)
        return f"http://127.0.0.1:9/snap/{i}.jpg"

    async with serve(dome(), snapshot_uri=snapshot_uri) as srv, client(srv) as cam:
        media = await cam.create_media_service()
        profiles = await media.GetProfiles()
        assert [p.token for p in profiles] == ["profile_0_main", "profile_0_sub"]
        main, sub = profiles
        assert main.VideoEncoderConfiguration.Encoding == "H264"
        res = main.VideoEncoderConfiguration.Resolution
        assert (res.Width, res.Height) == (1280, 720)
        res = sub.VideoEncoderConfiguration.Resolution
        assert (res.Width, res.Height) == (640, 360)
        assert main.VideoSourceConfiguration.SourceToken == "vs0"
        assert sub.PTZConfiguration.NodeToken == "ptz_node_0"

        single = await media.GetProfile({"ProfileToken": "profile_0_sub"})
        assert single.token == "profile_0_sub"

        sources = await media.GetVideoSources()
        assert [s.token for s in sources] == ["vs0"]
        assert sources[0].Resolution.Width == 1280

        for role in ("main", "sub"):
            req = media.create_type("GetStreamUri")
            req.ProfileToken = f"profile_0_{role}"
            req.StreamSetup = {"Stream": "RTP-Unicast", "Transport": {"Protocol": "RTSP"}}
            uri = await media.GetStreamUri(req)
            assert uri.Uri == f"rtsp://127.0.0.1:8554/cr-ptz-01/0/{role}"
            assert uri.InvalidAfterConnect is False

        assert await cam.get_snapshot_uri("profile_0_main") == "http://127.0.0.1:9/snap/0.jpg"
        assert snapshots == [0]

        with pytest.raises(ZeepFault) as e:
            await media.GetSnapshotUri({"ProfileToken": "profile_7_main"})
        assert subcodes(e.value) == ["InvalidArgVal", "NoProfile"]


# --- PTZ ----------------------------------------------------------------------------------------


async def test_ptz_nodes_configurations_and_options() -> None:
    async with serve(dome()) as srv, client(srv) as cam:
        ptz = await cam.create_ptz_service()
        (node,) = await ptz.GetNodes()
        assert node.token == "ptz_node_0"
        assert node.HomeSupported is True
        assert node.MaximumNumberOfPresets > 0
        spaces = node.SupportedPTZSpaces
        assert spaces.AbsolutePanTiltPositionSpace[0].URI.endswith("PositionGenericSpace")
        assert spaces.AbsolutePanTiltPositionSpace[0].XRange.Min == -1
        assert spaces.AbsoluteZoomPositionSpace[0].XRange.Max == 1
        assert spaces.ContinuousPanTiltVelocitySpace[0].URI.endswith("VelocityGenericSpace")
        assert (await ptz.GetNode({"NodeToken": "ptz_node_0"})).token == "ptz_node_0"

        (config,) = await ptz.GetConfigurations()
        assert config.token == "ptz_cfg_0"
        assert config.NodeToken == "ptz_node_0"
        assert config.DefaultPTZTimeout == dt.timedelta(seconds=10)
        same = await ptz.GetConfiguration({"PTZConfigurationToken": "ptz_cfg_0"})
        assert same.token == "ptz_cfg_0"

        options = await ptz.GetConfigurationOptions({"ConfigurationToken": "ptz_cfg_0"})
        assert options.PTZTimeout.Min <= dt.timedelta(seconds=0.3) < options.PTZTimeout.Max
        assert options.Spaces.ZoomSpeedSpace[0].XRange.Max == 1

        with pytest.raises(ZeepFault) as e:
            await ptz.GetNode({"NodeToken": "nope"})
        assert subcodes(e.value) == ["InvalidArgVal", "NoEntity"]


async def test_continuous_move_then_stop() -> None:
    async with serve(dome()) as srv, client(srv) as cam:
        ptz = await cam.create_ptz_service()
        token = {"ProfileToken": "profile_0_main"}
        req = ptz.create_type("ContinuousMove")
        req.ProfileToken = "profile_0_main"
        req.Velocity = {"PanTilt": {"x": 0.5, "y": 0.0}, "Zoom": {"x": 0.0}}
        req.Timeout = dt.timedelta(seconds=5)
        await ptz.ContinuousMove(req)

        first = await ptz.GetStatus(token)
        assert first.MoveStatus.PanTilt == "MOVING"
        assert first.MoveStatus.Zoom == "IDLE"
        assert abs(first.UtcTime - dt.datetime.now(dt.UTC)).total_seconds() < 3

        async def panned_on() -> bool:
            return pos(await ptz.GetStatus(token))[0] > pos(first)[0] + 0.02

        await until(panned_on)

        await ptz.Stop({**token, "PanTilt": True, "Zoom": True})
        stopped = await ptz.GetStatus(token)
        assert stopped.MoveStatus.PanTilt == "IDLE"
        await asyncio.sleep(0.1)
        assert pos(await ptz.GetStatus(token)) == pos(stopped)


async def test_continuous_move_timeout_stops_by_itself() -> None:
    async with serve(dome()) as srv, client(srv) as cam:
        ptz = await cam.create_ptz_service()
        token = {"ProfileToken": "profile_0_main"}
        await ptz.ContinuousMove(
            {**token, "Velocity": {"PanTilt": {"x": 1.0, "y": 0.0}}, "Timeout": "PT0.3S"}
        )

        async def idle() -> Any:
            status = await ptz.GetStatus(token)
            return status if status.MoveStatus.PanTilt == "IDLE" else None

        status = await until(idle, timeout=10)
        # 0.3 s at full speed (120 deg/s = 2/3 of the range per second).
        assert pos(status) == pytest.approx((0.2, 0.0, 0.0), abs=1e-4)


async def test_continuous_move_without_timeout_uses_the_default() -> None:
    clock = ManualClock()
    camera = dome(clock)
    async with serve(camera) as srv, client(srv) as cam:
        ptz = await cam.create_ptz_service()
        token = {"ProfileToken": "profile_0_main"}
        await ptz.ContinuousMove({**token, "Velocity": {"Zoom": {"x": 0.1}}})
        clock.advance(9.9)
        assert (await ptz.GetStatus(token)).MoveStatus.Zoom == "MOVING"
        clock.advance(0.2)
        status = await ptz.GetStatus(token)
        assert status.MoveStatus.Zoom == "IDLE"
        assert status.Position.Zoom.x == pytest.approx(0.1 * 0.25 * 10, abs=1e-4)


async def test_absolute_and_relative_moves() -> None:
    clock = ManualClock()
    async with serve(dome(clock)) as srv, client(srv) as cam:
        ptz = await cam.create_ptz_service()
        token = {"ProfileToken": "profile_0_main"}

        await ptz.AbsoluteMove(
            {**token, "Position": {"PanTilt": {"x": 0.2, "y": -0.1}, "Zoom": {"x": 0.5}}}
        )
        clock.advance(0.1)
        status = await ptz.GetStatus(token)
        assert status.MoveStatus.PanTilt == "MOVING"
        assert 0 < pos(status)[0] < 0.2
        clock.advance(5)
        status = await ptz.GetStatus(token)
        assert (status.MoveStatus.PanTilt, status.MoveStatus.Zoom) == ("IDLE", "IDLE")
        assert near(pos(status), (0.2, -0.1, 0.5))

        # Half speed takes twice as long: 0.1 of pan at 2/3 per second * 0.5 = 0.3 s.
        await ptz.RelativeMove(
            {
                **token,
                "Translation": {"PanTilt": {"x": 0.1, "y": 0.0}, "Zoom": {"x": -0.2}},
                "Speed": {"PanTilt": {"x": 0.5, "y": 0.5}, "Zoom": {"x": 0.5}},
            }
        )
        clock.advance(0.15)
        assert pos(await ptz.GetStatus(token))[0] == pytest.approx(0.25, abs=1e-4)
        clock.advance(5)
        assert near(pos(await ptz.GetStatus(token)), (0.3, -0.1, 0.3))

        # A space the camera does not offer is refused.
        with pytest.raises(ZeepFault) as e:
            await ptz.AbsoluteMove(
                {**token, "Position": {"PanTilt": {"x": 0, "y": 0, "space": "urn:degrees"}}}
            )
        assert subcodes(e.value) == ["InvalidArgVal", "SpaceNotSupported"]


async def test_presets_and_home() -> None:
    clock = ManualClock()
    camera = dome(clock)
    async with serve(camera) as srv, client(srv) as cam:
        ptz = await cam.create_ptz_service()
        token = {"ProfileToken": "profile_0_main"}

        async def at(target: tuple[float, float, float]) -> bool:
            clock.advance(10)  # long enough for any move
            s = await ptz.GetStatus(token)
            return near(pos(s), target) and s.MoveStatus.PanTilt == "IDLE"

        async def go(x: float, y: float, z: float) -> None:
            await ptz.AbsoluteMove(
                {**token, "Position": {"PanTilt": {"x": x, "y": y}, "Zoom": {"x": z}}}
            )
            assert await at((x, y, z))

        await go(0.4, 0.2, 0.3)
        preset = await ptz.SetPreset({**token, "PresetName": "Torrazzo"})
        (listed,) = await ptz.GetPresets(token)
        assert (listed.token, listed.Name) == (preset, "Torrazzo")
        assert listed.PTZPosition.PanTilt.x == pytest.approx(0.4)

        await go(-0.5, -0.3, 0.0)
        await ptz.GotoPreset({**token, "PresetToken": preset})
        assert await at((0.4, 0.2, 0.3))

        # Overwrite the same token with the current position.
        await go(0.1, 0.1, 0.1)
        assert await ptz.SetPreset({**token, "PresetToken": preset}) == preset
        await go(0.0, 0.0, 0.0)
        await ptz.GotoPreset({**token, "PresetToken": preset})
        assert await at((0.1, 0.1, 0.1))

        second = await ptz.SetPreset({**token, "PresetName": "Duomo"})
        assert second != preset
        with pytest.raises(ZeepFault) as e:
            await ptz.SetPreset({**token, "PresetName": "Duomo"})
        assert subcodes(e.value) == ["InvalidArgVal", "PresetExist"]

        await ptz.RemovePreset({**token, "PresetToken": preset})
        assert [p.token for p in await ptz.GetPresets(token)] == [second]
        with pytest.raises(ZeepFault) as e:
            await ptz.GotoPreset({**token, "PresetToken": preset})
        assert subcodes(e.value) == ["InvalidArgVal", "NoToken"]

        await go(-0.2, 0.5, 0.6)
        await ptz.SetHomePosition(token)
        await go(0.0, 0.0, 0.0)
        await ptz.GotoHomePosition(token)
        assert await at((-0.2, 0.5, 0.6))

        assert set(camera.optics[0].ptz.presets) == {second}  # type: ignore[union-attr]


async def test_concurrent_set_presets_get_distinct_tokens() -> None:
    async with serve(dome()) as srv, client(srv) as cam:
        ptz = await cam.create_ptz_service()
        tokens = await asyncio.gather(
            *(ptz.SetPreset({"ProfileToken": "profile_0_sub"}) for _ in range(8))
        )
        assert len(set(tokens)) == 8
        assert len(await ptz.GetPresets({"ProfileToken": "profile_0_main"})) == 8


# --- Quad-optic ---------------------------------------------------------------------------------


async def test_quad_optic_zoom_moves_only_its_lens() -> None:
    camera = quad()
    async with serve(camera) as srv, client(srv) as cam:
        media = await cam.create_media_service()
        assert len(await media.GetVideoSources()) == 4
        profiles = await media.GetProfiles()
        assert len(profiles) == 8
        by_token = {p.token: p for p in profiles}
        assert by_token["profile_3_sub"].VideoSourceConfiguration.SourceToken == "vs3"
        assert by_token["profile_3_sub"].PTZConfiguration.NodeToken == "ptz_node_3"

        ptz = await cam.create_ptz_service()
        nodes = await ptz.GetNodes()
        assert [n.token for n in nodes] == [f"ptz_node_{i}" for i in range(4)]
        for n in nodes:  # zoom-only lenses: no pan/tilt spaces
            assert n.SupportedPTZSpaces.AbsolutePanTiltPositionSpace == []
            assert n.SupportedPTZSpaces.AbsoluteZoomPositionSpace[0].XRange.Max == 1

        await ptz.ContinuousMove(
            {
                "ProfileToken": "profile_3_sub",
                "Velocity": {"PanTilt": {"x": 1.0, "y": 1.0}, "Zoom": {"x": 1.0}},
                "Timeout": "PT0.4S",
            }
        )

        async def zoomed() -> Any:
            s = await ptz.GetStatus({"ProfileToken": "profile_3_main"})
            return s if s.MoveStatus.Zoom == "IDLE" and s.Position.Zoom.x > 0 else None

        status = await until(zoomed)
        assert status.Position.Zoom.x == pytest.approx(0.1, abs=1e-4)
        assert status.Position.PanTilt is None
        assert status.MoveStatus.PanTilt is None
        for i in range(3):
            other = await ptz.GetStatus({"ProfileToken": f"profile_{i}_main"})
            assert other.Position.Zoom.x == 0
        lens3 = camera.optics[3].ptz
        assert lens3 is not None
        assert lens3.position().pan == 0  # the pan/tilt part was ignored


# --- Imaging ------------------------------------------------------------------------------------


async def test_imaging_focus_moves() -> None:
    camera = dome()
    async with serve(camera) as srv, client(srv) as cam:
        imaging = await cam.create_imaging_service()
        src = {"VideoSourceToken": "vs0"}
        settings = await imaging.GetImagingSettings(src)
        assert settings.Focus.AutoFocusMode == "MANUAL"
        options = await imaging.GetOptions(src)
        assert options.Focus.AutoFocusModes == ["MANUAL"]
        move_options = await imaging.GetMoveOptions(src)
        assert move_options.Absolute.Position.Max == 1
        assert move_options.Continuous.Speed.Min == -1

        def focus_idle_at(target: float) -> Callable[[], Any]:
            async def check() -> bool:
                s = (await imaging.GetStatus(src)).FocusStatus20
                return abs(s.Position - target) < 1e-4 and s.MoveStatus == "IDLE"

            return check

        await imaging.Move({**src, "Focus": {"Absolute": {"Position": 0.8, "Speed": 1.0}}})
        await until(focus_idle_at(0.8))
        assert camera.optics[0].focus == pytest.approx(0.8)

        await imaging.Move({**src, "Focus": {"Continuous": {"Speed": -0.5}}})
        assert (await imaging.GetStatus(src)).FocusStatus20.MoveStatus == "MOVING"

        async def moved_down() -> bool:
            return (await imaging.GetStatus(src)).FocusStatus20.Position < 0.75

        await until(moved_down)
        await imaging.Stop(src)
        status = (await imaging.GetStatus(src)).FocusStatus20
        assert status.MoveStatus == "IDLE"
        assert 0.0 < status.Position < 0.75

        await imaging.Move({**src, "Focus": {"Relative": {"Distance": 0.1}}})
        await until(focus_idle_at(min(1.0, status.Position + 0.1)))


# --- Authentication -----------------------------------------------------------------------------


async def test_wrong_password_is_refused_by_every_service() -> None:
    async with serve(dome()) as srv:
        async with client(srv, "sbagliata", discover=False) as cam:
            dev = await cam.create_devicemgmt_service()
            media = await cam.create_media_service()
            ptz = await cam.create_ptz_service()
            imaging = await cam.create_imaging_service()
            calls = [
                dev.GetDeviceInformation(),
                dev.GetCapabilities({"Category": "All"}),
                dev.GetServices({"IncludeCapability": False}),
                media.GetProfiles(),
                media.GetStreamUri(
                    {
                        "StreamSetup": {"Stream": "RTP-Unicast", "Transport": {"Protocol": "RTSP"}},
                        "ProfileToken": "profile_0_main",
                    }
                ),
                ptz.GetStatus({"ProfileToken": "profile_0_main"}),
                ptz.ContinuousMove(
                    {"ProfileToken": "profile_0_main", "Velocity": {"Zoom": {"x": 1.0}}}
                ),
                imaging.GetImagingSettings({"VideoSourceToken": "vs0"}),
            ]
            for call in calls:
                with pytest.raises(ZeepFault) as e:
                    await call
                assert subcodes(e.value) == ["NotAuthorized"]
                assert e.value.code == "env:Sender"
                assert is_auth_error(e.value)
            # ... but the clock is public.
            assert (await dev.GetSystemDateAndTime()).UTCDateTime.Date.Year >= 2024
        with pytest.raises(ZeepFault):
            async with client(srv, "sbagliata"):
                pass
    assert srv.camera.optics[0].ptz.moves == 0  # type: ignore[union-attr]


async def test_wrong_password_fault_rejects_the_site_credential() -> None:
    camera = dome()
    async with serve(camera) as srv, client(srv) as cam:
        dev = await cam.create_devicemgmt_service()
        camera.fault = Fault.WRONG_PASSWORD
        with pytest.raises(ZeepFault) as e:
            await dev.GetDeviceInformation()
        assert subcodes(e.value) == ["NotAuthorized"]
        camera.fault = Fault.NONE
        assert (await dev.GetDeviceInformation()).SerialNumber == "cr-ptz-01"


async def test_stale_created_timestamp_is_refused() -> None:
    async with serve(dome()) as srv, client(srv) as cam:
        # A client clock 10 minutes off, not compensated: the device refuses the token.
        cam.dt_diff = dt.timedelta(minutes=10)
        for service in cam.services.values():
            await service.close()
        cam.services.clear()
        dev = await cam.create_devicemgmt_service()
        with pytest.raises(ZeepFault) as e:
            await dev.GetDeviceInformation()
        assert subcodes(e.value) == ["NotAuthorized"]


# --- Raw HTTP: faults the client library would never send ---------------------------------------


def _soap(body: str, header: str = "") -> bytes:
    env = "http://www.w3.org/2003/05/soap-envelope"
    return (
        f'<s:Envelope xmlns:s="{env}" xmlns:tds="{NS["device"]}" xmlns:tptz="{NS["ptz"]}">'
        f"<s:Header>{header}</s:Header><s:Body>{body}</s:Body></s:Envelope>"
    ).encode()


def _fault(reply: bytes) -> tuple[str, list[str]]:
    env = "{http://www.w3.org/2003/05/soap-envelope}"
    fault = ET.fromstring(reply).find(f"{env}Body/{env}Fault")
    assert fault is not None
    code = fault.findtext(f"{env}Code/{env}Value") or ""
    subs = [v.text or "" for v in fault.iter(f"{env}Value")][1:]
    return code, subs


async def test_raw_http_faults() -> None:
    async with serve(dome()) as srv, httpx.AsyncClient(base_url=srv.base_url) as http:
        headers = {"Content-Type": "application/soap+xml; charset=utf-8"}
        dev = "/onvif/device_service"

        r = await http.post(dev, content=_soap("<tds:GetDeviceInformation/>"), headers=headers)
        assert r.status_code == 400
        assert _fault(r.content) == ("env:Sender", ["ter:NotAuthorized"])
        assert r.headers["content-type"].startswith("application/soap+xml")

        r = await http.post(dev, content=b"<s:Envelope", headers=headers)
        assert r.status_code == 400
        assert _fault(r.content) == ("env:Sender", ["ter:WellFormed"])

        r = await http.post(dev, content=_soap("<tds:GetSystemDateAndTime/>"), headers=headers)
        assert r.status_code == 200
        assert schema_errors(r.content) == []

        r = await http.post("/onvif/nowhere", content=_soap("<x/>"), headers=headers)
        assert r.status_code == 404


async def test_unknown_operation_is_action_not_supported() -> None:
    async with serve(dome()) as srv, client(srv) as cam:
        dev = await cam.create_devicemgmt_service()
        with pytest.raises(ZeepFault) as e:
            await dev.GetHostname()
        assert subcodes(e.value) == ["ActionNotSupported"]
        assert e.value.code == "env:Receiver"


def test_handle_never_raises_on_garbage() -> None:
    service = OnvifService(
        dome(),
        username=USER,
        password=PASSWORD,
        stream_uri=lambda i, role: "rtsp://127.0.0.1/x",
        snapshot_uri=lambda i: "http://127.0.0.1/x.jpg",
        base_url="http://127.0.0.1:1",
    )
    bomb = b'<?xml version="1.0"?><!DOCTYPE x [<!ENTITY a "aaaa">]><x>&a;</x>'
    soap11 = (
        b'<e:Envelope xmlns:e="http://schemas.xmlsoap.org/soap/envelope/"><e:Body/></e:Envelope>'
    )
    cases = [b"", b"\xff\xfe\x00", bomb, b"<root/>", soap11, _soap(""), _soap("<tds:Nope/>")]
    for body in cases:
        status, ctype, reply = service.handle("/onvif/device_service", {}, body)
        assert status in (400, 500), body
        assert ctype.startswith("application/soap+xml")
        code, _ = _fault(reply)
        assert code in ("env:Sender", "env:Receiver", "env:VersionMismatch")
    status, _, reply = service.handle("/onvif/ptz_service?x=1", {}, _soap("<tptz:GetNodes/>"))
    assert (status, _fault(reply)) == (400, ("env:Sender", ["ter:NotAuthorized"]))


# --- The real fleet -----------------------------------------------------------------------------


def _start_fleet(site: Site) -> Fleet:
    """A started Fleet on some free run of ports (it binds base_port + 1 .. + N)."""
    n = len(site.cameras)
    for _ in range(10):
        base = random_fleet_base()
        try:
            for port in range(base + 1, base + n + 1):
                with socket.socket() as s:
                    s.bind(("127.0.0.1", port))
            fleet = Fleet(site, base_port=base, faults={"quad1": Fault.WRONG_PASSWORD},
                          username=USER, password=PASSWORD)  # fmt: skip
            fleet.start()
            return fleet
        except OSError:
            continue
    pytest.fail("no free ports for the fleet")


async def test_fleet_serves_onvif_to_the_real_client() -> None:
    site = load_site(Path(__file__).parents[1] / "data" / "sites" / "minimal.yaml")
    fleet = await asyncio.to_thread(_start_fleet, site)
    try:
        cam = ONVIFCamera("127.0.0.1", fleet.port("ptz1"), USER, PASSWORD, no_cache=True)
        try:
            await cam.update_xaddrs()
            assert cam.xaddrs[NS["ptz"]] == f"{fleet.url('ptz1')}/onvif/ptz_service"
            media = await cam.create_media_service()
            uri = await media.GetStreamUri(
                {
                    "StreamSetup": {"Stream": "RTP-Unicast", "Transport": {"Protocol": "RTSP"}},
                    "ProfileToken": "profile_0_sub",
                }
            )
            assert uri.Uri.startswith(fleet.url("ptz1"))
            ptz = await cam.create_ptz_service()
            await ptz.ContinuousMove(
                {"ProfileToken": "profile_0_main", "Velocity": {"PanTilt": {"x": 1, "y": 0}}}
            )
            status = await ptz.GetStatus({"ProfileToken": "profile_0_main"})
            assert status.MoveStatus.PanTilt == "MOVING"
            await ptz.Stop({"ProfileToken": "profile_0_main"})
            assert fleet.camera("ptz1").optics[0].ptz.moves == 2
        finally:
            await cam.close()

        for password, ok in ((PASSWORD, False), (PASSWORD + "-rotated", True)):
            cam = ONVIFCamera("127.0.0.1", fleet.port("quad1"), USER, password, no_cache=True)
            try:
                if ok:
                    await cam.update_xaddrs()
                    media = await cam.create_media_service()
                    assert len(await media.GetProfiles()) == 8
                else:
                    with pytest.raises(ZeepFault) as e:
                        await cam.update_xaddrs()
                    assert subcodes(e.value) == ["NotAuthorized"]
            finally:
                await cam.close()
    finally:
        await asyncio.to_thread(fleet.stop)
