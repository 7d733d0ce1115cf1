"""The stream engine on HTTP (MPEG-TS) streams of the demo fleet, through a faulty network."""

from __future__ import annotations

import dataclasses
from collections.abc import Iterator

import pytest

from app.demo.fleet import Fleet, ensure_demo_env
from app.site.model import Camera, CameraKind, Neighbourhood, Site, StreamRole
from app.streams.engine import StreamEngine
from app.streams.status import StreamState, StreamStatus
from app.streams.urls import open_url
from app.streams.worker import StreamOptions
from tests.helpers import start_fleet_on_free_port, wait_for

FAST = StreamOptions(timeout=2.0, stall_after=1.0, backoff_initial=0.2, backoff_max=1.0)
SITE = Site(
    name="HTTP engine test site",
    neighbourhoods=(Neighbourhood("po", "Po"),),
    cameras=(Camera("fixed", "Via Brescia", "po", CameraKind.FIXED_DOME, heading=200.0),),
)


@pytest.fixture
def fleet() -> Iterator[Fleet]:
    ensure_demo_env()
    f = start_fleet_on_free_port(SITE, faults={}, transport="http")
    try:
        yield f
    finally:
        f.stop()


def test_a_reset_after_a_long_session_is_no_timeout(fleet: Fleet, freezing_proxy) -> None:
    # The reason is judged by how long the failing read waited, not by how long the stream
    # was live: a camera rebooting after hours live is "closed", not "no answer".
    proxy = freezing_proxy("127.0.0.1", fleet.port("fixed"))
    stream = fleet.site_for_client().camera("fixed").optics[0].stream(StreamRole.SUB)
    assert stream is not None
    through = stream.url.replace(f":{fleet.port('fixed')}/", f":{proxy.port}/")
    engine = StreamEngine(FAST, url_resolver=open_url)
    seen: list[StreamStatus] = []
    engine.status_changed.connect(lambda _key, status: seen.append(status))
    try:
        handle = engine.open(dataclasses.replace(stream, url=through))
        # Live for longer than the 2 s timeout: over 3 s of a 15 fps stream.
        wait_for(lambda: handle.stats().frames_decoded >= 50, 15, "3 s of pictures")
        reset_at = len(seen)
        proxy.reset()  # TCP RST, as a camera that reboots
        offline = wait_for(
            lambda: [s for s in seen[reset_at:] if s.state == StreamState.OFFLINE],
            10,
            "offline after the reset",
        )[0]
    finally:
        engine.shutdown(2.0)
    assert offline.reason == "connection closed by the device", offline
