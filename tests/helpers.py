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


def start_fleet_on_free_port(site, **kwargs):  # type: ignore[no-untyped-def]
    """A demo Fleet for ``site`` on a free range of ports on 127.0.0.1."""
    import random

    from app.demo.fleet import Fleet

    rng = random.Random()
    for _ in range(20):
        fleet = Fleet(site, base_port=rng.randrange(20000, 40000, 50), **kwargs)
        try:
            fleet.start()
        except OSError:
            continue
        return fleet
    raise RuntimeError("no free port range for the demo fleet")
