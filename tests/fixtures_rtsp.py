"""Pytest fixtures for the real RTSP test server and network faults (a pytest plugin).

Load with ``pytest_plugins = ["tests.fixtures_rtsp"]``. The server is Debian's
gst-rtsp-server run by ``/usr/bin/python3`` (see ``tests/servers/rtsp_server.py``);
when its packages are missing the fixtures fail, naming them, rather than skip:
CI installs them and a silently skipped suite proves nothing.
"""

from __future__ import annotations

import random
import socket
from collections.abc import Callable, Iterator

import pytest

from tests.servers import RtspServerError, RtspServerProcess
from tests.servers.netfaults import BlackHole, FreezingProxy

__all__ = ["black_hole", "freezing_proxy", "rtsp_server", "rtsp_server_private"]


def _started(server: RtspServerProcess) -> RtspServerProcess:
    try:
        server.start()
    except RtspServerError as exc:
        failure = str(exc)
    else:
        return server
    pytest.fail(failure, pytrace=False)  # outside the except: no chained traceback


@pytest.fixture(scope="session")
def rtsp_server() -> Iterator[RtspServerProcess]:
    """One server for the whole session: mounts /cam1/main, /cam1/sub, /cam2/main,
    /cam2/sub, /h265/main and /secure/sub (user viewer, password s3cret).

    Shared: tests must not stop it (use ``rtsp_server_private`` for that).
    """
    server = RtspServerProcess()
    try:
        yield _started(server)
    finally:
        server.stop()


def _port_below_ephemeral_range() -> int:
    """A free port under Linux's ephemeral range (32768+).

    While a restartable server is down, clients keep reconnecting from ephemeral source
    ports; a port inside that range can be taken by one of them (even a TCP self-connect),
    and the restart would then fail.
    """
    rng = random.Random()
    for _ in range(50):
        port = rng.randrange(20000, 30000)
        with socket.socket() as probe:
            try:
                probe.bind(("127.0.0.1", port))
            except OSError:
                continue
        return port
    raise RuntimeError("no free port in 20000-29999")


@pytest.fixture
def rtsp_server_private() -> Iterator[RtspServerProcess]:
    """A server of the test's own, free to ``stop()`` and ``start()`` (same port)."""
    server = RtspServerProcess(port=_port_below_ephemeral_range())
    try:
        yield _started(server)
    finally:
        server.stop()


@pytest.fixture
def black_hole() -> Iterator[BlackHole]:
    """A TCP listener on 127.0.0.1 that accepts and never answers."""
    with BlackHole() as hole:
        yield hole


@pytest.fixture
def freezing_proxy() -> Iterator[Callable[[str, int], FreezingProxy]]:
    """Factory ``make(target_host, target_port) -> FreezingProxy``; all closed afterwards."""
    proxies: list[FreezingProxy] = []

    def make(target_host: str, target_port: int) -> FreezingProxy:
        proxy = FreezingProxy(target_host, target_port)
        proxies.append(proxy)
        return proxy

    try:
        yield make
    finally:
        for proxy in proxies:
            proxy.close()
