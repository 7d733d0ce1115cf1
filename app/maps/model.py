"""MapModel: what the site map shows — markers with live status, counts, attention, cones, edits.

No Qt: views subscribe to the model's Signals (through ``MainThreadBridge.wrap``) and read
immutable snapshots (``MarkerState``, ``HoodState``).
"""

from __future__ import annotations

import dataclasses
import logging
import threading
import time
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from pathlib import Path

from app.events import Signal
from app.health import StatusBoard
from app.maps.editing import EditError, Placement, save_placements
from app.maps.geometry import Cone, normalise_bearing, polygon_centroid, zoom_reach
from app.maps.projection import GeoProjection, PixelProjection, Point, Projection, geo_bounds
from app.site.model import Camera, CameraKind, Site
from app.streams.status import CameraStatus, StreamState, StreamStatus

logger = logging.getLogger(__name__)

# Statuses in which a camera is down: entering one of them raises attention on the map.
DOWN = frozenset({CameraStatus.OFFLINE, CameraStatus.UNAUTHORIZED, CameraStatus.ERROR})
RECOVERED = frozenset({CameraStatus.LIVE, CameraStatus.DEGRADED, CameraStatus.IDLE})
DEFAULT_FOV = {
    CameraKind.PTZ_DOME: 60.0,
    CameraKind.FIXED_DOME: 90.0,
    CameraKind.BI_OPTIC: 70.0,
    CameraKind.QUAD_OPTIC: 90.0,
}
STATUS_TEXT = {
    CameraStatus.IDLE: "not watched",
    CameraStatus.CONNECTING: "connecting",
    CameraStatus.LIVE: "live",
    CameraStatus.DEGRADED: "degraded (some optics down)",
    CameraStatus.STALLED: "stalled (no pictures)",
    CameraStatus.OFFLINE: "offline",
    CameraStatus.UNAUTHORIZED: "unauthorized (wrong user name or password)",
    CameraStatus.ERROR: "error",
}
_IDLE_STREAM = StreamStatus(StreamState.IDLE)


@dataclass(frozen=True, slots=True)
class MarkerState:
    """One camera on the map, as the view draws it (an immutable snapshot)."""

    camera_id: str
    name: str
    kind: CameraKind
    neighbourhood: str
    neighbourhood_name: str
    location: str = ""
    purpose: tuple[str, ...] = ()
    position: Point | None = None  # scene coordinates; None: not on this map
    heading: float | None = None
    fov: float | None = None
    optic_headings: tuple[float | None, ...] = ()
    status: CameraStatus = CameraStatus.IDLE
    stream_status: StreamStatus = _IDLE_STREAM
    attention: bool = False  # went down and no operator has acknowledged it yet
    down_since: float | None = None  # set when it went down, cleared when live again
    ptz_pan: float | None = None  # bearing reported by the PTZ head, degrees from north
    ptz_fov: float | None = None  # current horizontal field of view of the PTZ lens

    @property
    def wide_fov(self) -> float:
        return self.fov if self.fov is not None else DEFAULT_FOV[self.kind]

    def cones(self) -> tuple[Cone, ...]:
        """Fields of view to draw: one per optic; a PTZ dome's follows its reported pose."""
        if self.kind is CameraKind.PTZ_DOME:
            bearing = self.ptz_pan if self.ptz_pan is not None else self.heading
            if bearing is None:
                return ()
            fov = self.ptz_fov if self.ptz_fov is not None else self.wide_fov
            return (Cone(normalise_bearing(bearing), fov, zoom_reach(self.wide_fov, fov)),)
        headings = list(self.optic_headings) or [self.heading]
        n = len(headings)
        base = self.heading
        cones = []
        for i, h in enumerate(headings):
            if h is None and base is not None:
                h = base + i * 360.0 / n  # optics without a surveyed heading: spread evenly
            if h is not None:
                cones.append(Cone(normalise_bearing(h), self.wide_fov))
        return tuple(cones)

    def status_text(self, now: float | None = None) -> str:
        text = STATUS_TEXT.get(self.status, str(self.status))
        s = self.stream_status
        if s.reason and self.status is not CameraStatus.LIVE:
            text += f": {s.reason}"
        if self.status in DOWN and s.since:
            text += f", since {time.strftime('%H:%M:%S', time.localtime(s.since))}"
        return text

    def tooltip(self) -> str:
        lines = [f"{self.name}  ({self.camera_id}, {self.kind})"]
        if self.location and self.location.lower() != self.name.lower():
            lines.append(self.location)
        lines.append(f"Neighbourhood: {self.neighbourhood_name}")
        if self.purpose:
            lines.append("Purpose: " + ", ".join(p.replace("-", " ") for p in self.purpose))
        lines.append(f"Status: {self.status_text()}")
        if self.attention:
            lines.append("Went down — click to acknowledge")
        return "\n".join(lines)


@dataclass(frozen=True, slots=True)
class HoodState:
    """A neighbourhood: outline in scene coordinates and its live count."""

    id: str
    name: str
    outline: tuple[Point, ...]
    live: int
    total: int

    @property
    def label(self) -> str:
        return f"{self.name} {self.live}/{self.total} live"

    @property
    def centroid(self) -> Point | None:
        return polygon_centroid(self.outline) if self.outline else None


@dataclass(frozen=True, slots=True)
class MapFilter:
    """Which markers are shown; None on an axis means no restriction."""

    neighbourhoods: frozenset[str] | None = None
    kinds: frozenset[CameraKind] | None = None
    statuses: frozenset[CameraStatus] | None = None

    def accepts(self, m: MarkerState) -> bool:
        return (
            (self.neighbourhoods is None or m.neighbourhood in self.neighbourhoods)
            and (self.kinds is None or m.kind in self.kinds)
            and (self.statuses is None or m.status in self.statuses)
        )


def projection_for(site: Site) -> Projection:
    """Pixels for a floor plan without ``bounds``; otherwise Mercator around the site."""
    bg = site.map_background
    if bg is not None and bg.kind == "image" and bg.bounds is None:
        return PixelProjection()
    points: list[Point] = [
        (c.latitude, c.longitude)
        for c in site.cameras
        if c.latitude is not None and c.longitude is not None
    ]
    for n in site.neighbourhoods:
        points.extend(n.outline)
    if bg is not None and bg.bounds is not None:
        points.extend(bg.bounds)
    box = geo_bounds(points)
    if box is None:
        return GeoProjection(0.0, 0.0)
    south, west, north, east = box
    return GeoProjection((south + north) / 2, (west + east) / 2)


class MapModel:
    """The state behind the site map.

    Thread: ``set_status`` (and so the StatusBoard's events) may come from any thread; the
    other methods are meant for the GUI thread but are safe from any. Events fire in the
    calling thread, after the state has changed.

    Events:
        marker_changed(camera_id): status, attention, pose, position or heading changed.
        counts_changed(neighbourhood_id): that neighbourhood's live count changed.
        attention_changed(count): the number of unacknowledged down cameras changed.
        filter_changed(): the filter changed; re-check every marker's visibility.
        edits_changed(count): unsaved placement edits (0 after save or revert).
    """

    def __init__(
        self,
        site: Site,
        board: StatusBoard | None = None,
        clock: Callable[[], float] = time.time,
    ) -> None:
        self.site = site
        self.projection = projection_for(site)
        self._clock = clock
        self._lock = threading.Lock()
        self._hood_names = {n.id: n.name for n in site.neighbourhoods}
        self._markers: dict[str, MarkerState] = {}
        self._original: dict[str, MarkerState] = {}
        self._edits: dict[str, Placement] = {}
        self._filter = MapFilter()
        for cam in site.cameras:
            self._markers[cam.id] = self._initial_marker(cam)
        self._original = dict(self._markers)
        self.marker_changed: Signal[[str]] = Signal()
        self.counts_changed: Signal[[str]] = Signal()
        self.attention_changed: Signal[[int]] = Signal()
        self.filter_changed: Signal[[]] = Signal()
        self.edits_changed: Signal[[int]] = Signal()
        if board is not None:
            for cam in site.cameras:
                status, stream = board.camera(cam.id)
                if status is not CameraStatus.IDLE:
                    self.set_status(cam.id, status, stream)
            board.camera_status_changed.connect(self.set_status)

    def _initial_marker(self, cam: Camera) -> MarkerState:
        return MarkerState(
            camera_id=cam.id,
            name=cam.name,
            kind=cam.kind,
            neighbourhood=cam.neighbourhood,
            neighbourhood_name=self._hood_names.get(cam.neighbourhood, cam.neighbourhood),
            location=cam.location,
            purpose=cam.purpose,
            position=self._position(cam.latitude, cam.longitude, cam.map_xy),
            heading=cam.heading,
            fov=cam.fov,
            optic_headings=tuple(o.heading for o in cam.optics) if cam.is_multi_optic else (),
        )

    def _position(
        self, lat: float | None, lon: float | None, xy: tuple[float, float] | None
    ) -> Point | None:
        p = self.projection
        if isinstance(p, PixelProjection):
            return (float(xy[0]), float(xy[1])) if xy is not None else None
        if lat is None or lon is None:
            return None
        return p.to_scene(lat, lon)

    # -- queries ----------------------------------------------------------------------------
    def marker(self, camera_id: str) -> MarkerState:
        with self._lock:
            return self._markers[camera_id]

    def markers(self) -> list[MarkerState]:
        with self._lock:
            return list(self._markers.values())

    def neighbourhoods(self) -> list[HoodState]:
        with self._lock:
            return [self._hood(n.id) for n in self.site.neighbourhoods]

    def neighbourhood(self, hood_id: str) -> HoodState:
        with self._lock:
            return self._hood(hood_id)

    def _hood(self, hood_id: str) -> HoodState:
        hood = self.site.neighbourhood(hood_id)
        mine = [m for m in self._markers.values() if m.neighbourhood == hood_id]
        outline: tuple[Point, ...] = ()
        if isinstance(self.projection, GeoProjection):
            outline = tuple(self.projection.to_scene(lat, lon) for lat, lon in hood.outline)
        return HoodState(
            id=hood.id,
            name=hood.name,
            outline=outline,
            live=sum(1 for m in mine if m.status is CameraStatus.LIVE),
            total=len(mine),
        )

    def counts(self) -> dict[str, tuple[int, int]]:
        """neighbourhood id → (live, total)."""
        return {h.id: (h.live, h.total) for h in self.neighbourhoods()}

    def is_visible(self, camera_id: str) -> bool:
        with self._lock:
            m = self._markers[camera_id]
            return m.position is not None and self._filter.accepts(m)

    @property
    def filter(self) -> MapFilter:
        return self._filter

    def attention(self) -> list[str]:
        """Cameras that went down and are not acknowledged, in site order."""
        with self._lock:
            return [cid for cid, m in self._markers.items() if m.attention]

    # -- live status ------------------------------------------------------------------------
    def set_status(self, camera_id: str, status: CameraStatus, stream: StreamStatus) -> None:
        """A camera's summarised status (the StatusBoard's ``camera_status_changed``)."""
        with self._lock:
            old = self._markers.get(camera_id)
            if old is None:
                return
            # Down is latched until the camera delivers pictures again (or nobody watches
            # it): the engine's retries pass through "connecting" and must not raise a
            # fresh alarm on every attempt.
            went_down = status in DOWN and old.down_since is None
            if went_down:
                down_since: float | None = stream.since or self._clock()
            elif status in RECOVERED:
                down_since = None
            else:
                down_since = old.down_since
            new = dataclasses.replace(
                old,
                status=status,
                stream_status=stream,
                attention=old.attention or went_down,
                down_since=down_since,
            )
            self._markers[camera_id] = new
            count_changed = (old.status is CameraStatus.LIVE) != (status is CameraStatus.LIVE)
            attention = sum(1 for m in self._markers.values() if m.attention)
        if went_down and not old.attention:
            logger.info("camera %s went %s: attention on the map", camera_id, status)
        self.marker_changed.emit(camera_id)
        if count_changed:
            self.counts_changed.emit(new.neighbourhood)
        if new.attention != old.attention:
            self.attention_changed.emit(attention)

    def set_ptz_pose(self, camera_id: str, pan_deg: float, zoom_fov_deg: float) -> None:
        """Where a PTZ dome looks now: ``pan_deg`` is the compass bearing of the lens
        (degrees clockwise from north, so the PTZ layer adds the dome's mounting offset)
        and ``zoom_fov_deg`` the lens's current horizontal field of view.
        """
        if not 0 < zoom_fov_deg <= 360:
            raise ValueError(f"field of view must be in (0, 360], got {zoom_fov_deg}")
        with self._lock:
            old = self._markers[camera_id]
            pan = normalise_bearing(pan_deg)
            if (old.ptz_pan, old.ptz_fov) == (pan, zoom_fov_deg):
                return
            self._markers[camera_id] = dataclasses.replace(old, ptz_pan=pan, ptz_fov=zoom_fov_deg)
        self.marker_changed.emit(camera_id)

    # -- attention --------------------------------------------------------------------------
    def acknowledge(self, camera_id: str) -> bool:
        """An operator has seen that this camera went down; False if there was nothing to do."""
        with self._lock:
            old = self._markers.get(camera_id)
            if old is None or not old.attention:
                return False
            self._markers[camera_id] = dataclasses.replace(old, attention=False)
            count = sum(1 for m in self._markers.values() if m.attention)
        logger.info("camera %s: attention acknowledged", camera_id)
        self.marker_changed.emit(camera_id)
        self.attention_changed.emit(count)
        return True

    def acknowledge_all(self) -> list[str]:
        with self._lock:
            ids = [cid for cid, m in self._markers.items() if m.attention]
            for cid in ids:
                self._markers[cid] = dataclasses.replace(self._markers[cid], attention=False)
        for cid in ids:
            self.marker_changed.emit(cid)
        if ids:
            logger.info("attention acknowledged for %d cameras", len(ids))
            self.attention_changed.emit(0)
        return ids

    # -- filters ----------------------------------------------------------------------------
    def set_filter(
        self,
        neighbourhoods: Iterable[str] | None = None,
        kinds: Iterable[CameraKind | str] | None = None,
        statuses: Iterable[CameraStatus | str] | None = None,
    ) -> None:
        """Show only matching markers; None on an axis shows all."""
        self._filter = MapFilter(
            neighbourhoods=None if neighbourhoods is None else frozenset(neighbourhoods),
            kinds=None if kinds is None else frozenset(CameraKind(k) for k in kinds),
            statuses=None if statuses is None else frozenset(CameraStatus(s) for s in statuses),
        )
        self.filter_changed.emit()

    # -- editing ----------------------------------------------------------------------------
    may_edit: bool = True  # set from the user's role: only supervisors edit the map

    @property
    def editable(self) -> bool:
        """Placements can be saved: the site came from a file and the user may edit it."""
        return self.site.path is not None and self.may_edit

    def pending_edits(self) -> dict[str, Placement]:
        with self._lock:
            return dict(self._edits)

    def move_camera(self, camera_id: str, x: float, y: float) -> None:
        """Put a marker at scene position (x, y); saved to the site file by ``save_edits``."""
        p = self.projection
        if isinstance(p, GeoProjection):
            lat, lon = p.to_geo(x, y)
            edit = Placement(lat=round(lat, 6), lon=round(lon, 6))
            pos = p.to_scene(edit.lat or 0.0, edit.lon or 0.0)
        else:
            edit = Placement(map_xy=(round(x, 1), round(y, 1)))
            pos = edit.map_xy or (x, y)
        self._edit(camera_id, edit, position=pos)

    def turn_camera(self, camera_id: str, heading: float) -> None:
        """Point a marker (and every optic of a multi-optic camera) at ``heading``."""
        heading = round(normalise_bearing(heading), 1)
        self._edit(camera_id, Placement(heading=heading), heading=heading)

    def _edit(
        self,
        camera_id: str,
        edit: Placement,
        position: Point | None = None,
        heading: float | None = None,
    ) -> None:
        with self._lock:
            old = self._markers[camera_id]
            changes: dict[str, object] = {}
            if position is not None:
                changes["position"] = position
            if heading is not None:
                ref = old.heading
                if ref is None and old.optic_headings:
                    ref = old.optic_headings[0]
                delta = heading - ref if ref is not None else 0.0
                changes["heading"] = heading
                changes["optic_headings"] = tuple(
                    None if h is None else normalise_bearing(h + delta) for h in old.optic_headings
                )
            self._markers[camera_id] = dataclasses.replace(old, **changes)  # type: ignore[arg-type]
            prev = self._edits.get(camera_id, Placement())
            self._edits[camera_id] = prev.merged(edit)
            count = len(self._edits)
        self.marker_changed.emit(camera_id)
        self.edits_changed.emit(count)

    def revert_edits(self) -> None:
        with self._lock:
            ids = list(self._edits)
            for cid in ids:
                o = self._original[cid]
                self._markers[cid] = dataclasses.replace(
                    self._markers[cid],
                    position=o.position,
                    heading=o.heading,
                    optic_headings=o.optic_headings,
                )
            self._edits.clear()
        for cid in ids:
            self.marker_changed.emit(cid)
        self.edits_changed.emit(0)

    def save_edits(self) -> Path | None:
        """Write pending placements to the site file; returns the backup (None: nothing to do).

        Raises EditError (the file is then unchanged and the edits stay pending).
        """
        path = self.site.path
        if path is None:
            raise EditError("this site was not loaded from a file; there is nothing to save to")
        edits = self.pending_edits()
        if not edits:
            return None
        saved, backup = save_placements(path, edits)
        with self._lock:
            for cid in edits:
                if self._edits.get(cid) == edits[cid]:
                    del self._edits[cid]
                self._original[cid] = self._markers[cid]
            count = len(self._edits)
        # The file's cameras replace ours only in their placement: streams and credentials
        # of a running site (the demo fleet rewrites them) must stay as they are.
        placed = {c.id: c for c in saved.cameras}
        self.site = dataclasses.replace(
            self.site,
            cameras=tuple(
                dataclasses.replace(
                    c,
                    latitude=placed[c.id].latitude,
                    longitude=placed[c.id].longitude,
                    heading=placed[c.id].heading,
                    map_xy=placed[c.id].map_xy,
                )
                if c.id in edits and c.id in placed
                else c
                for c in self.site.cameras
            ),
        )
        self.edits_changed.emit(count)
        return backup
