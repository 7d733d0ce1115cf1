"""`torrazzo probe`: connect to every stream of a site and report status, codec, size, fps."""

from __future__ import annotations

import concurrent.futures
import json
import time
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import asdict, dataclass
from typing import Any, TextIO

import av

from app.site.discovery import camera_with_streams, needs_discovery
from app.site.model import Camera, Site, Stream, StreamRole
from app.streams.status import StreamState, classify_error
from app.streams.urls import open_url, redact
from app.streams.worker import StreamOptions, open_options

av.logging.set_level(None)


@dataclass(frozen=True, slots=True)
class ProbeResult:
    camera: str
    optic: int
    role: str
    url: str  # without credentials
    status: str
    reason: str = ""
    codec: str = ""
    width: int = 0
    height: int = 0
    fps: float = 0.0
    time_to_first_frame_ms: float | None = None

    @property
    def ok(self) -> bool:
        return self.status == StreamState.LIVE


def probe_stream(
    camera: str, optic: int, stream: Stream, options: StreamOptions, seconds: float = 1.5
) -> ProbeResult:
    """Open one stream, time the first frame and count frames for ``seconds``."""
    base: dict[str, Any] = {
        "camera": camera,
        "optic": optic,
        "role": str(stream.role),
        "url": redact(stream.url),
    }
    started = time.monotonic()
    try:
        url = open_url(stream)
        container: Any = av.open(
            url, options=open_options(url, options), timeout=(options.timeout * 2, None)
        )
        try:
            vs = container.streams.video[0]
            vs.codec_context.thread_type = "SLICE"
            first: float | None = None
            frames = 0
            width = height = 0
            pts: list[float] = []
            for packet in container.demux(vs):
                for frame in vs.codec_context.decode(packet):
                    now = time.monotonic()
                    if first is None:
                        first = now
                    frames += 1
                    width, height = frame.width, frame.height
                    if frame.pts is not None and vs.time_base:
                        pts.append(float(frame.pts * vs.time_base))
                if first is not None and time.monotonic() - first >= seconds:
                    break
            if first is None:
                return ProbeResult(
                    **base,
                    status=str(StreamState.OFFLINE),
                    reason="stream ended before any picture",
                )
            # The camera's own clock gives the frame rate; arrival times are bursty at start.
            span = (max(pts) - min(pts)) if len(pts) > 1 else time.monotonic() - first
            frames = len(pts) if len(pts) > 1 else frames
            return ProbeResult(
                **base,
                status=str(StreamState.LIVE),
                codec=vs.codec_context.name,
                width=width,
                height=height,
                fps=round((frames - 1) / span, 1) if span > 0 and frames > 1 else 0.0,
                time_to_first_frame_ms=round((first - started) * 1000, 1),
            )
        finally:
            container.close()
    except Exception as exc:  # a probe reports every failure, it never crashes
        status = classify_error(exc, time.monotonic() - started, options.timeout)
        return ProbeResult(**base, status=str(status.state), reason=status.reason)


Discover = Callable[[Camera], "concurrent.futures.Future[list[tuple[int, str, str]]]"]


def _discover_onvif(camera: Camera) -> concurrent.futures.Future[list[tuple[int, str, str]]]:
    # Imported here: the ONVIF client pulls in zeep and aiohttp, which a site without
    # ONVIF-only cameras never needs.
    from app.onvif.client import discover_streams

    assert camera.onvif is not None
    return discover_streams(camera.onvif, camera.onvif.credential)


def resolve_cameras(
    site: Site, timeout: float, discover: Discover | None = None
) -> tuple[list[Camera], list[ProbeResult]]:
    """The site's cameras with ONVIF-only ones' streams asked from the device (in parallel).

    A camera whose device does not answer, or reports no video, comes back as a failed
    ``ProbeResult`` with the reason instead, so the probe reports it and exits non-zero.
    """
    discover = discover or _discover_onvif
    pending: dict[str, concurrent.futures.Future[list[tuple[int, str, str]]]] = {}
    failed: dict[str, str] = {}
    for cam in site.cameras:
        if needs_discovery(cam):
            try:
                pending[cam.id] = discover(cam)
            except Exception as exc:  # a bad endpoint (e.g. an unset credential) is a result
                failed[cam.id] = str(exc)
    cameras: list[Camera] = []
    results: list[ProbeResult] = []
    # The ONVIF calls run concurrently; one deadline bounds them all.
    deadline = time.monotonic() + timeout * 2
    for cam in site.cameras:
        reason = failed.get(cam.id)
        if cam.id in pending:
            try:
                found = pending[cam.id].result(max(0.1, deadline - time.monotonic()))
            except concurrent.futures.TimeoutError:
                pending[cam.id].cancel()
                reason = "timeout"
            except Exception as exc:
                reason = str(exc)
            else:
                if found:
                    cam = camera_with_streams(cam, found)
                else:
                    reason = "the device reported no video profiles"
        if reason is not None:
            assert cam.onvif is not None
            results.append(
                ProbeResult(
                    camera=cam.id,
                    optic=1,
                    role="onvif",
                    url=f"{cam.onvif.host}:{cam.onvif.port}",
                    status=str(StreamState.OFFLINE),
                    reason=f"ONVIF stream discovery failed: {reason}",
                )
            )
            continue
        cameras.append(cam)
    return cameras, results


def probe_site(
    site: Site,
    role: StreamRole = StreamRole.MAIN,
    options: StreamOptions | None = None,
    workers: int = 8,
    discover: Discover | None = None,
) -> list[ProbeResult]:
    """Probe every optic of every camera (the ``role`` stream, else the other one).

    Cameras known only by their ONVIF endpoint get their streams from the device first.
    """
    options = options or StreamOptions()
    cameras, failures = resolve_cameras(site, options.timeout, discover)
    order = {cam.id: i for i, cam in enumerate(site.cameras)}
    jobs: list[tuple[str, int, Stream]] = []
    for cam in cameras:
        for optic in cam.optics:
            stream = optic.stream(role) or (optic.streams[0] if optic.streams else None)
            if stream is None:
                # Never silently skipped: an optic with nothing to open is a failure to report.
                failures.append(
                    ProbeResult(
                        camera=cam.id,
                        optic=optic.index + 1,
                        role=str(role),
                        url="",
                        status=str(StreamState.ERROR),
                        reason="no stream URL for this optic",
                    )
                )
                continue
            jobs.append((cam.id, optic.index + 1, stream))
    with ThreadPoolExecutor(max_workers=workers, thread_name_prefix="probe") as pool:
        futures = [pool.submit(probe_stream, c, o, s, options) for c, o, s in jobs]
        results = [f.result() for f in futures] + failures
    return sorted(results, key=lambda r: (order.get(r.camera, len(order)), r.optic))


def print_results(results: list[ProbeResult], out: TextIO, as_json: bool) -> None:
    if as_json:
        json.dump([asdict(r) for r in results], out, indent=1)
        out.write("\n")
        return
    out.write(
        f"{'camera':<10}{'optic':>5}  {'stream':<5} {'status':<13}{'codec':<6}"
        f"{'size':>11}{'fps':>6}{'ttff ms':>9}  reason\n"
    )
    for r in results:
        size = f"{r.width}x{r.height}" if r.width else "-"
        ttff = f"{r.time_to_first_frame_ms:.0f}" if r.time_to_first_frame_ms is not None else "-"
        out.write(
            f"{r.camera:<10}{r.optic:>5}  {r.role:<5} {r.status:<13}{r.codec or '-':<6}{size:>11}"
            f"{r.fps:>6.1f}{ttff:>9}  {r.reason}\n"
        )
    failed = sum(1 for r in results if not r.ok)
    out.write(f"{len(results) - failed} of {len(results)} streams live, {failed} failed\n")
