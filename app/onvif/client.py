"""OnvifClient: one ONVIF device (WS-Security, clock offset, profiles, PTZ) behind futures."""

from __future__ import annotations

import asyncio
import concurrent.futures
import datetime as dt
import logging
import threading
from collections.abc import Awaitable, Callable, Coroutine
from typing import Any, TypeVar

from app.onvif.errors import OnvifError, OnvifErrorKind, map_error
from app.onvif.loop import OnvifLoop, shared_loop
from app.onvif.model import (
    DiscoveredStream,
    FocusCapabilities,
    FocusStatus,
    MediaProfile,
    PtzCapabilities,
    PtzPresetInfo,
    PtzStatus,
    Range,
)
from app.site.credentials import CredentialError, resolve
from app.site.model import CredentialRef, OnvifEndpoint

log = logging.getLogger(__name__)

T = TypeVar("T")
DEFAULT_TIMEOUT_S = 5.0  # per SOAP call; the library's own defaults are 30 s / 90 s
CONNECT_TIMEOUT_S = 8.0  # discovery is several round trips
ROLES = ("main", "sub")

_onvif_lock = threading.Lock()


def import_onvif() -> Any:
    """``onvif.ONVIFCamera``, imported without letting the library reconfigure logging.

    onvif.client calls ``logging.basicConfig(level=INFO)`` at import time; undo it so the
    application's own logging setup stays in charge.
    """
    with _onvif_lock:
        root = logging.getLogger()
        handlers, level = list(root.handlers), root.level
        import onvif

        for h in list(root.handlers):
            if h not in handlers:
                root.removeHandler(h)
        root.setLevel(level)
        return onvif.ONVIFCamera


def _get(obj: Any, name: str, default: Any = None) -> Any:
    """A field of a zeep object (or dict), tolerating either and missing fields."""
    if obj is None:
        return default
    if isinstance(obj, dict):
        return obj.get(name, default)
    return getattr(obj, name, default)


def _first(seq: Any) -> Any:
    if seq is None:
        return None
    if isinstance(seq, list | tuple):
        return seq[0] if seq else None
    return seq


def _range(space: Any, axis: str, default: Range) -> Range:
    r = _get(space, axis)
    lo, hi = _get(r, "Min"), _get(r, "Max")
    if lo is None or hi is None:
        return default
    return Range(float(lo), float(hi))


def _seconds(value: Any, default: float) -> float:
    if isinstance(value, dt.timedelta):
        return value.total_seconds()
    return default


def place_profiles(raw: list[Any]) -> list[MediaProfile]:
    """Media profiles with their optic (order of the video sources) and role (by size)."""
    sources: list[str] = []
    rows = []
    for p in raw:
        vsc = _get(p, "VideoSourceConfiguration")
        source = str(_get(vsc, "SourceToken") or "")
        if source not in sources:
            sources.append(source)
        res = _get(_get(p, "VideoEncoderConfiguration"), "Resolution")
        w, h = int(_get(res, "Width", 0) or 0), int(_get(res, "Height", 0) or 0)
        node = _get(_get(p, "PTZConfiguration"), "NodeToken")
        rows.append((p, source, w, h, str(node) if node else None))
    out = []
    for optic, source in enumerate(sources):
        mine = [r for r in rows if r[1] == source]
        # Stable: the device's order breaks ties between equal sizes.
        by_size = sorted(mine, key=lambda r: -(r[2] * r[3]))
        for rank, (p, _, w, h, node) in enumerate(by_size):
            out.append(
                MediaProfile(
                    token=str(_get(p, "token")),
                    name=str(_get(p, "Name") or ""),
                    optic=optic,
                    role=ROLES[rank] if rank < len(ROLES) else "",
                    width=w,
                    height=h,
                    source_token=source,
                    ptz_node=node,
                )
            )
    return out


class OnvifClient:
    """One ONVIF device, connected lazily on first use, shared by every view of the camera.

    Every public method returns a ``concurrent.futures.Future`` at once (never blocks); the
    work runs on the ``onvif-loop`` thread. Failures are :class:`OnvifError`. Motion commands
    to one profile are sent in order, one at a time, and the newest waiting command replaces
    an older one that has not gone out yet (its future gives ``False``): a Stop can never be
    overtaken by a move sent before it, and a slow device never builds a backlog.

    Thread: any.
    """

    def __init__(
        self,
        host: str,
        port: int,
        credential: CredentialRef | tuple[str, str] | None,
        loop: OnvifLoop | None = None,
        *,
        timeout: float = DEFAULT_TIMEOUT_S,
        name: str = "",
    ) -> None:
        self.host = host
        self.port = port
        self.name = name or f"{host}:{port}"
        self._credential = credential
        self._loop = loop or shared_loop()
        self.timeout = timeout
        # Loop-thread state.
        self._cam: Any = None
        self._media: Any = None
        self._ptz: Any = None
        self._imaging: Any = None
        self._profiles: list[MediaProfile] | None = None
        self._connect_lock: asyncio.Lock | None = None
        self._pending: dict[str, tuple[Callable[[], Awaitable[Any]], asyncio.Future[bool]]] = {}
        self._draining: set[str] = set()
        self._tasks: set[asyncio.Task[None]] = set()
        self._closed = False

    @classmethod
    def for_endpoint(
        cls,
        endpoint: OnvifEndpoint,
        credential: CredentialRef | None,
        loop: OnvifLoop | None = None,
    ) -> OnvifClient:
        return cls(endpoint.host, endpoint.port, endpoint.credential or credential, loop)

    # --- plumbing ------------------------------------------------------------------------

    def _submit(self, coro: Coroutine[Any, Any, T]) -> concurrent.futures.Future[T]:
        # The coroutine itself, not a wrapper awaiting it: a call submitted as the loop stops
        # is closed by OnvifLoop.submit (or cancelled before its first step), and a wrapped
        # one would then be left never awaited (a RuntimeWarning at exit).
        return self._loop.submit(coro)

    async def _call(self, what: str, op: Awaitable[T], timeout: float | None = None) -> T:
        try:
            return await asyncio.wait_for(op, timeout or self.timeout)
        except asyncio.CancelledError:
            raise
        except Exception as exc:
            err = map_error(exc, what)
            log.debug("%s: %s", self.name, err.message)
            raise err from None

    async def _connect(self) -> None:
        if self._closed:
            raise OnvifError(OnvifErrorKind.CLOSED, f"{self.name}: closed")
        if self._connect_lock is None:
            self._connect_lock = asyncio.Lock()
        async with self._connect_lock:
            if self._profiles is not None:
                return
            user, password = await self._resolve()
            camera_class = import_onvif()
            cam = camera_class(
                self.host, self.port, user, password, no_cache=True, adjust_time=True
            )
            try:
                await self._call("connect", cam.update_xaddrs(), CONNECT_TIMEOUT_S)
                media = await self._call("media service", cam.create_media_service())
                raw = await self._call("GetProfiles", media.GetProfiles())
            except BaseException:
                await cam.close()
                raise
            if self._closed:
                # close() ran while this connect was on the wire: it found no connection to
                # drop, so this one must not be kept (its HTTP session would leak).
                await cam.close()
                raise OnvifError(OnvifErrorKind.CLOSED, f"{self.name}: closed")
            self._cam, self._media = cam, media
            self._profiles = place_profiles(list(raw or []))
            log.info("%s: connected, %d media profiles", self.name, len(self._profiles))

    async def _resolve(self) -> tuple[str, str]:
        cred = self._credential
        if cred is None:
            return "", ""
        if isinstance(cred, tuple):
            return cred
        try:
            # Keyring backends may block on D-Bus: not on the loop.
            return await asyncio.to_thread(resolve, cred)
        except CredentialError as e:
            raise OnvifError(OnvifErrorKind.CREDENTIAL, str(e)) from None

    async def _ptz_service(self) -> Any:
        await self._connect()
        if self._ptz is None:
            self._ptz = await self._call("PTZ service", self._cam.create_ptz_service())
        return self._ptz

    async def _imaging_service(self) -> Any:
        await self._connect()
        if self._imaging is None:
            self._imaging = await self._call("Imaging service", self._cam.create_imaging_service())
        return self._imaging

    async def _forget_connection(self) -> None:
        cam, self._cam = self._cam, None
        self._media = self._ptz = self._imaging = None
        self._profiles = None
        if cam is not None:
            try:
                await cam.close()
            except Exception:  # a dead connection may fail to close; it is gone either way
                log.debug("%s: close failed", self.name, exc_info=True)

    async def _guarded(self, what: str, make: Callable[[], Awaitable[T]]) -> T:
        try:
            return await make()
        except OnvifError as e:
            if e.kind == OnvifErrorKind.UNAUTHORIZED and self._profiles is not None:
                # Credentials or clock may have changed: rediscover on the next call.
                await self._forget_connection()
            raise

    # --- discovery -----------------------------------------------------------------------

    def profiles(self) -> concurrent.futures.Future[list[MediaProfile]]:
        async def run() -> list[MediaProfile]:
            await self._connect()
            assert self._profiles is not None
            return list(self._profiles)

        return self._submit(run())

    async def _profile_for(self, optic: int, need_ptz: bool) -> MediaProfile:
        await self._connect()
        assert self._profiles is not None
        mine = [p for p in self._profiles if p.optic == optic]
        if not mine:
            raise OnvifError(OnvifErrorKind.NOT_SUPPORTED, f"{self.name}: no optic {optic + 1}")
        if not need_ptz:
            return mine[0]
        with_ptz = [p for p in mine if p.ptz_node]
        if not with_ptz:
            raise OnvifError(
                OnvifErrorKind.NOT_SUPPORTED, f"{self.name}: optic {optic + 1} has no PTZ"
            )
        return with_ptz[0]

    def stream_uris(self) -> concurrent.futures.Future[list[DiscoveredStream]]:
        """(optic, role, url) for the main and sub profile of every optic."""

        async def run() -> list[DiscoveredStream]:
            await self._connect()
            assert self._profiles is not None
            out = []
            for p in self._profiles:
                if not p.role:
                    continue
                setup = {"Stream": "RTP-Unicast", "Transport": {"Protocol": "RTSP"}}
                reply = await self._call(
                    "GetStreamUri",
                    self._media.GetStreamUri({"StreamSetup": setup, "ProfileToken": p.token}),
                )
                uri = _get(reply, "Uri")
                if uri:
                    out.append(DiscoveredStream(p.optic, p.role, str(uri)))
            return out

        return self._submit(self._guarded("GetStreamUri", run))

    def ptz_capabilities(self, optic: int = 0) -> concurrent.futures.Future[PtzCapabilities]:
        async def run() -> PtzCapabilities:
            profile = await self._profile_for(optic, need_ptz=True)
            ptz = await self._ptz_service()
            node = await self._call("GetNode", ptz.GetNode({"NodeToken": profile.ptz_node}))
            spaces = _get(node, "SupportedPTZSpaces")
            abs_pt = _first(_get(spaces, "AbsolutePanTiltPositionSpace"))
            abs_z = _first(_get(spaces, "AbsoluteZoomPositionSpace"))
            rel_pt = _first(_get(spaces, "RelativePanTiltTranslationSpace"))
            rel_z = _first(_get(spaces, "RelativeZoomTranslationSpace"))
            con_pt = _first(_get(spaces, "ContinuousPanTiltVelocitySpace"))
            con_z = _first(_get(spaces, "ContinuousZoomVelocitySpace"))
            pan_tilt = any(s is not None for s in (abs_pt, rel_pt, con_pt))
            zoom = any(s is not None for s in (abs_z, rel_z, con_z))
            timeouts = Range(0.1, 60.0)
            try:
                cfg = await self._call("GetConfigurations", ptz.GetConfigurations())
                mine = next(
                    (c for c in cfg or [] if _get(c, "NodeToken") == profile.ptz_node), None
                )
                if mine is not None:
                    opts = await self._call(
                        "GetConfigurationOptions",
                        ptz.GetConfigurationOptions({"ConfigurationToken": _get(mine, "token")}),
                    )
                    t = _get(opts, "PTZTimeout")
                    timeouts = Range(_seconds(_get(t, "Min"), 0.1), _seconds(_get(t, "Max"), 60.0))
            except OnvifError as e:
                # Optional: without it, the ONVIF default range is assumed.
                log.debug("%s: no PTZ configuration options: %s", self.name, e)
            return PtzCapabilities(
                profile_token=profile.token,
                node_token=str(profile.ptz_node),
                pan_tilt=pan_tilt,
                zoom=zoom,
                continuous=con_pt is not None or con_z is not None,
                relative=rel_pt is not None or rel_z is not None,
                absolute=abs_pt is not None or abs_z is not None,
                home=bool(_get(node, "HomeSupported", False)),
                max_presets=int(_get(node, "MaximumNumberOfPresets", 0) or 0),
                pan_range=_range(abs_pt, "XRange", Range(-1.0, 1.0)),
                tilt_range=_range(abs_pt, "YRange", Range(-1.0, 1.0)),
                zoom_range=_range(abs_z, "XRange", Range(0.0, 1.0)),
                timeout_range=timeouts,
            )

        return self._submit(self._guarded("PTZ capabilities", run))

    # --- PTZ: motion (ordered, newest waiting command wins) --------------------------------

    def _motion(
        self,
        profile: str,
        what: str,
        make: Callable[[Any], Awaitable[Any]],
        service: Callable[[], Awaitable[Any]] | None = None,
    ) -> concurrent.futures.Future[bool]:
        """Queue one command for ``profile`` (any queue key); ``service`` gives its SOAP port."""
        get_service = service or self._ptz_service

        async def enqueue() -> bool:
            loop = asyncio.get_running_loop()
            done: asyncio.Future[bool] = loop.create_future()

            async def send() -> None:
                port = await get_service()
                await self._call(what, make(port))

            old = self._pending.pop(profile, None)
            if old is not None and not old[1].done():
                old[1].set_result(False)
            self._pending[profile] = (send, done)
            if profile not in self._draining:
                self._draining.add(profile)
                self._tasks.add(task := loop.create_task(self._drain(profile)))
                task.add_done_callback(self._tasks.discard)
            return await done

        return self._submit(self._guarded(what, enqueue))

    async def _drain(self, profile: str) -> None:
        try:
            while profile in self._pending:
                send, done = self._pending.pop(profile)
                try:
                    await send()
                except asyncio.CancelledError:
                    if not done.done():
                        done.cancel()
                    raise
                except Exception as exc:
                    if not done.done():
                        done.set_exception(map_error(exc, "PTZ"))
                else:
                    if not done.done():
                        done.set_result(True)
        finally:
            self._draining.discard(profile)

    def continuous_move(
        self,
        profile: str,
        pan: float,
        tilt: float,
        zoom: float,
        timeout_s: float,
        *,
        pan_tilt: bool = True,
        with_zoom: bool = True,
    ) -> concurrent.futures.Future[bool]:
        """ContinuousMove with a Timeout; axes this node lacks are left out."""
        velocity: dict[str, Any] = {}
        if pan_tilt:
            velocity["PanTilt"] = {"x": pan, "y": tilt}
        if with_zoom:
            velocity["Zoom"] = {"x": zoom}
        params = {
            "ProfileToken": profile,
            "Velocity": velocity,
            "Timeout": dt.timedelta(seconds=timeout_s),
        }
        return self._motion(profile, "ContinuousMove", lambda ptz: ptz.ContinuousMove(params))

    def stop(self, profile: str) -> concurrent.futures.Future[bool]:
        params = {"ProfileToken": profile, "PanTilt": True, "Zoom": True}
        return self._motion(profile, "Stop", lambda ptz: ptz.Stop(params))

    def relative_move(
        self,
        profile: str,
        pan: float,
        tilt: float,
        zoom: float,
        *,
        pan_tilt: bool = True,
        with_zoom: bool = True,
    ) -> concurrent.futures.Future[bool]:
        translation: dict[str, Any] = {}
        if pan_tilt:
            translation["PanTilt"] = {"x": pan, "y": tilt}
        if with_zoom:
            translation["Zoom"] = {"x": zoom}
        params = {"ProfileToken": profile, "Translation": translation}
        return self._motion(profile, "RelativeMove", lambda ptz: ptz.RelativeMove(params))

    def absolute_move(
        self,
        profile: str,
        pan: float | None,
        tilt: float | None,
        zoom: float | None,
    ) -> concurrent.futures.Future[bool]:
        """AbsoluteMove; an axis given as None keeps its position."""
        position: dict[str, Any] = {}
        if pan is not None and tilt is not None:
            position["PanTilt"] = {"x": pan, "y": tilt}
        if zoom is not None:
            position["Zoom"] = {"x": zoom}
        params = {"ProfileToken": profile, "Position": position}
        return self._motion(profile, "AbsoluteMove", lambda ptz: ptz.AbsoluteMove(params))

    def goto_preset(self, profile: str, token: str) -> concurrent.futures.Future[bool]:
        params = {"ProfileToken": profile, "PresetToken": token}
        return self._motion(profile, "GotoPreset", lambda ptz: ptz.GotoPreset(params))

    def goto_home(self, profile: str) -> concurrent.futures.Future[bool]:
        params = {"ProfileToken": profile}
        return self._motion(profile, "GotoHomePosition", lambda ptz: ptz.GotoHomePosition(params))

    # --- Imaging: the focus motor of an optic's lens ---------------------------------------

    def focus_capabilities(self, optic: int = 0) -> concurrent.futures.Future[FocusCapabilities]:
        """The focus motor of ``optic``'s video source (GetMoveOptions); NOT_SUPPORTED without."""

        async def run() -> FocusCapabilities:
            profile = await self._profile_for(optic, need_ptz=False)
            imaging = await self._imaging_service()
            opts = await self._call(
                "GetMoveOptions",
                imaging.GetMoveOptions({"VideoSourceToken": profile.source_token}),
            )
            continuous = _get(opts, "Continuous")
            speed = _range(continuous, "Speed", Range(-1.0, 1.0))
            return FocusCapabilities(profile.source_token, continuous is not None, speed)

        return self._submit(self._guarded("focus capabilities", run))

    def focus_move(self, source_token: str, speed: float) -> concurrent.futures.Future[bool]:
        """Imaging Move with a Continuous focus speed (+ far, - near) until ``focus_stop``.

        Queued like PTZ motion (per video source), so a Stop is never overtaken by a Move.
        """
        params = {"VideoSourceToken": source_token, "Focus": {"Continuous": {"Speed": speed}}}
        return self._motion(
            f"imaging:{source_token}",
            "Imaging Move",
            lambda imaging: imaging.Move(params),
            self._imaging_service,
        )

    def focus_stop(self, source_token: str) -> concurrent.futures.Future[bool]:
        params = {"VideoSourceToken": source_token}
        return self._motion(
            f"imaging:{source_token}",
            "Imaging Stop",
            lambda imaging: imaging.Stop(params),
            self._imaging_service,
        )

    def focus_status(self, source_token: str) -> concurrent.futures.Future[FocusStatus]:
        async def run() -> FocusStatus:
            imaging = await self._imaging_service()
            s = await self._call(
                "Imaging GetStatus", imaging.GetStatus({"VideoSourceToken": source_token})
            )
            focus = _get(s, "FocusStatus20")
            return FocusStatus(
                position=float(_get(focus, "Position", 0.0) or 0.0),
                moving=str(_get(focus, "MoveStatus", "IDLE")) == "MOVING",
            )

        return self._submit(self._guarded("Imaging GetStatus", run))

    # --- PTZ: queries and preset management ------------------------------------------------

    def status(self, profile: str) -> concurrent.futures.Future[PtzStatus]:
        async def run() -> PtzStatus:
            ptz = await self._ptz_service()
            s = await self._call("GetStatus", ptz.GetStatus({"ProfileToken": profile}))
            pos, moving = _get(s, "Position"), _get(s, "MoveStatus")
            pt, z = _get(pos, "PanTilt"), _get(pos, "Zoom")
            return PtzStatus(
                pan=float(_get(pt, "x", 0.0) or 0.0),
                tilt=float(_get(pt, "y", 0.0) or 0.0),
                zoom=float(_get(z, "x", 0.0) or 0.0),
                pan_tilt_moving=str(_get(moving, "PanTilt", "IDLE")) == "MOVING",
                zoom_moving=str(_get(moving, "Zoom", "IDLE")) == "MOVING",
            )

        return self._submit(self._guarded("GetStatus", run))

    def presets(self, profile: str) -> concurrent.futures.Future[list[PtzPresetInfo]]:
        async def run() -> list[PtzPresetInfo]:
            ptz = await self._ptz_service()
            raw = await self._call("GetPresets", ptz.GetPresets({"ProfileToken": profile}))
            out = []
            for p in raw or []:
                pos = _get(p, "PTZPosition")
                pt, z = _get(pos, "PanTilt"), _get(pos, "Zoom")
                out.append(
                    PtzPresetInfo(
                        token=str(_get(p, "token")),
                        name=str(_get(p, "Name") or _get(p, "token")),
                        pan=_get(pt, "x"),
                        tilt=_get(pt, "y"),
                        zoom=_get(z, "x"),
                    )
                )
            return out

        return self._submit(self._guarded("GetPresets", run))

    def set_preset(
        self, profile: str, name: str | None, token: str | None = None
    ) -> concurrent.futures.Future[str]:
        """Save the current position as a new preset, or over ``token``; gives the token."""

        async def run() -> str:
            ptz = await self._ptz_service()
            params: dict[str, Any] = {"ProfileToken": profile}
            if name is not None:
                params["PresetName"] = name
            if token is not None:
                params["PresetToken"] = token
            reply = await self._call("SetPreset", ptz.SetPreset(params))
            return str(_get(reply, "PresetToken", reply))

        return self._submit(self._guarded("SetPreset", run))

    def remove_preset(self, profile: str, token: str) -> concurrent.futures.Future[None]:
        async def run() -> None:
            ptz = await self._ptz_service()
            await self._call(
                "RemovePreset", ptz.RemovePreset({"ProfileToken": profile, "PresetToken": token})
            )

        return self._submit(self._guarded("RemovePreset", run))

    def set_home(self, profile: str) -> concurrent.futures.Future[None]:
        async def run() -> None:
            ptz = await self._ptz_service()
            await self._call("SetHomePosition", ptz.SetHomePosition({"ProfileToken": profile}))

        return self._submit(self._guarded("SetHomePosition", run))

    # --- life cycle ------------------------------------------------------------------------

    def close(self) -> concurrent.futures.Future[None]:
        """Drop the connection; later calls fail with kind ``closed``."""

        async def run() -> None:
            self._closed = True
            for _, done in self._pending.values():
                if not done.done():
                    done.set_result(False)
            self._pending.clear()
            await self._forget_connection()

        return self._loop.submit(run())


def discover_streams(
    endpoint: OnvifEndpoint,
    credential: CredentialRef | None = None,
    loop: OnvifLoop | None = None,
) -> concurrent.futures.Future[list[tuple[int, str, str]]]:
    """``(optic index, role, url)`` of a camera known only by its ONVIF endpoint.

    The endpoint's own credential wins over ``credential``. The client is closed afterwards.
    """
    client = OnvifClient.for_endpoint(endpoint, credential, loop)
    result: concurrent.futures.Future[list[tuple[int, str, str]]] = concurrent.futures.Future()

    def done(f: concurrent.futures.Future[list[DiscoveredStream]]) -> None:
        client.close()
        if f.cancelled():
            result.cancel()
        elif (exc := f.exception()) is not None:
            result.set_exception(exc)
        else:
            result.set_result([(s.optic, s.role, s.url) for s in f.result()])

    client.stream_uris().add_done_callback(done)
    return result
