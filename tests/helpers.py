"""Small test helpers: wait for a condition with a deadline instead of sleeping."""

from __future__ import annotations

import time
from collections.abc import Callable
from typing import TypeVar

T = TypeVar("T")


def wait_for(
    condition: Callable[[], T], timeout: float, what: str = "condition", step: float = 0.05
) -> T:
    """Poll ``condition`` until it returns a truthy value; fail with ``what`` after ``timeout``."""
    deadline = time.monotonic() + timeout
    while True:
        value = condition()
        if value:
            return value
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out after {timeout} s waiting for {what}")
        time.sleep(step)


# Base ports of the tests' demo fleets (each binds base .. base + cameras, under 50). Below the
# demo application's own 18100, the restartable RTSP test server's 20000-29999 and Linux's
# ephemeral range (32768+): a fleet restarts relays and flaps cameras on its ports, and an
# outgoing connection's source port or another test server must not be able to take one.
FLEET_BASES = range(10000, 18000, 50)


def random_fleet_base() -> int:
    """A random base port for a test fleet (retry on OSError: another program may hold it)."""
    import random

    return random.choice(FLEET_BASES)


def start_fleet_on_free_port(site, **kwargs):  # type: ignore[no-untyped-def]
    """A demo Fleet for ``site`` on a free range of ports on 127.0.0.1."""
    from app.demo.fleet import Fleet

    for _ in range(20):
        fleet = Fleet(site, base_port=random_fleet_base(), **kwargs)
        try:
            fleet.start()
        except OSError:
            continue
        return fleet
    raise RuntimeError("no free port range for the demo fleet")
