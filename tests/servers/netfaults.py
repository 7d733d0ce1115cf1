"""Network faults on 127.0.0.1 for tests: a TCP black hole and a proxy that can freeze.

Standard library only. Every helper owns its threads and joins them in ``close()``;
all are context managers.
"""

from __future__ import annotations

import contextlib
import logging
import socket
import struct
import threading
from types import TracebackType
from typing import Self

log = logging.getLogger(__name__)

HOST = "127.0.0.1"
_CHUNK = 65536
_JOIN_TIMEOUT_S = 5.0


def _listener() -> socket.socket:
    sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    sock.bind((HOST, 0))
    sock.listen(64)
    return sock


def _shut(sock: socket.socket) -> None:
    # shutdown() wakes a thread blocked in accept/recv/sendall on this socket; close() alone
    # does not on Linux.
    with contextlib.suppress(OSError):
        sock.shutdown(socket.SHUT_RDWR)


def _join_all(threads: list[threading.Thread]) -> None:
    for thread in threads:
        thread.join(_JOIN_TIMEOUT_S)
        if thread.is_alive():
            raise RuntimeError(f"thread {thread.name} did not stop")


class _Closing:
    """A listener with accepted connections and threads: closing and context management.

    Subclasses set ``_sock``, ``_lock``, ``_conns``, ``_threads``, ``_accept_thread`` and
    ``_closed``.
    """

    _sock: socket.socket
    _lock: threading.Lock
    _conns: list[socket.socket]
    _threads: list[threading.Thread]
    _accept_thread: threading.Thread
    _closed: bool

    def close(self) -> None:
        """Stop listening, drop every connection and join all threads."""
        with self._lock:
            if self._closed:
                return
            self._closed = True
            conns = list(self._conns)
        _shut(self._sock)
        self._sock.close()
        for conn in conns:
            _shut(conn)
        self._accept_thread.join(_JOIN_TIMEOUT_S)
        with self._lock:
            threads = list(self._threads)
        _join_all([self._accept_thread, *threads])
        for conn in conns:
            conn.close()

    def __enter__(self) -> Self:
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.close()


class BlackHole(_Closing):
    """A TCP listener that accepts connections and never answers.

    Whatever clients send is read and dropped, so their writes never block; the
    connections stay open until ``close()``. Models a camera whose TCP stack is up but
    whose RTSP service hangs.
    """

    def __init__(self) -> None:
        self._sock = _listener()
        self.port: int = self._sock.getsockname()[1]
        self._lock = threading.Lock()
        self._conns: list[socket.socket] = []
        self._threads: list[threading.Thread] = []
        self._closed = False
        self.accepted = 0
        self._accept_thread = threading.Thread(
            target=self._accept_loop, name=f"blackhole:{self.port}", daemon=True
        )
        self._accept_thread.start()

    def url(self, scheme: str = "rtsp", path: str = "/stream") -> str:
        """A URL pointing at the black hole, e.g. ``rtsp://127.0.0.1:PORT/stream``."""
        return f"{scheme}://{HOST}:{self.port}{path}"

    def _accept_loop(self) -> None:
        while True:
            try:
                conn, _ = self._sock.accept()
            except OSError:
                return  # listener shut down by close()
            with self._lock:
                if self._closed:
                    conn.close()
                    return
                self.accepted += 1
                self._conns.append(conn)
                thread = threading.Thread(
                    target=self._drain,
                    args=(conn,),
                    name=f"blackhole:{self.port}:conn",
                    daemon=True,
                )
                self._threads.append(thread)
            thread.start()

    @staticmethod
    def _drain(conn: socket.socket) -> None:
        with contextlib.suppress(OSError):
            while conn.recv(_CHUNK):
                pass


class FreezingProxy(_Closing):
    """A TCP proxy on 127.0.0.1 in front of ``target_host:target_port`` that can freeze.

    While live it forwards both ways. After ``freeze()`` every connection stays open
    but nothing is forwarded in either direction: what arrives is read and dropped, so
    the proxy never pushes back on the server (a stalled reader would otherwise stall a
    shared gst-rtsp-server media for every other client). To the client this looks like
    a frozen camera. ``unfreeze()`` resumes forwarding; a byte stream that lost data
    mid-way (RTSP interleaved RTP) is corrupt, so clients are expected to reconnect,
    while new connections work normally.
    """

    def __init__(self, target_host: str, target_port: int) -> None:
        if target_host not in (HOST, "localhost"):
            raise ValueError("FreezingProxy only forwards to 127.0.0.1")
        self.target = (HOST, target_port)
        self._sock = _listener()
        self.port: int = self._sock.getsockname()[1]
        self._frozen = threading.Event()
        self._lock = threading.Lock()
        self._conns: list[socket.socket] = []
        self._reset: set[socket.socket] = set()  # aborted by reset(): no FIN passed on
        self._threads: list[threading.Thread] = []
        self._closed = False
        self.accepted = 0
        self.bytes_forwarded = 0
        self.bytes_dropped = 0
        self._accept_thread = threading.Thread(
            target=self._accept_loop, name=f"proxy:{self.port}", daemon=True
        )
        self._accept_thread.start()

    @property
    def frozen(self) -> bool:
        return self._frozen.is_set()

    def url(self, path: str, scheme: str = "rtsp", userinfo: str = "") -> str:
        """A URL through the proxy, e.g. ``url("/cam1/sub")``; ``userinfo`` like ``"u:p"``."""
        auth = f"{userinfo}@" if userinfo else ""
        return f"{scheme}://{auth}{HOST}:{self.port}{path}"

    def freeze(self) -> None:
        """Stop forwarding on all connections, present and future; keep them open."""
        self._frozen.set()

    def unfreeze(self) -> None:
        self._frozen.clear()

    def reset(self) -> None:
        """Abort every connection with a TCP reset (RST), as a camera that reboots mid-stream.

        New connections are still accepted and forwarded.
        """
        with self._lock:
            conns, self._conns = self._conns, []
            self._reset.update(conns)
        for conn in conns:
            with contextlib.suppress(OSError):
                # Linger on, zero timeout: the close sends RST instead of FIN. The pumps are
                # blocked in recv() on these sockets, which holds the close back until they
                # return: SHUT_RD wakes them first (and sends nothing).
                conn.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
                conn.shutdown(socket.SHUT_RD)
            conn.close()

    def _accept_loop(self) -> None:
        while True:
            try:
                client, _ = self._sock.accept()
            except OSError:
                return
            try:
                upstream = socket.create_connection(self.target, timeout=5.0)
                upstream.settimeout(None)
            except OSError as exc:
                log.debug("proxy %d: upstream %s unreachable: %s", self.port, self.target, exc)
                client.close()  # like a refused connection, seen one hop later
                continue
            with self._lock:
                if self._closed:
                    client.close()
                    upstream.close()
                    return
                self.accepted += 1
                self._conns += [client, upstream]
                pumps = [
                    threading.Thread(
                        target=self._pump,
                        args=(src, dst),
                        name=f"proxy:{self.port}:{name}",
                        daemon=True,
                    )
                    for src, dst, name in ((client, upstream, "up"), (upstream, client, "down"))
                ]
                self._threads += pumps
            for pump in pumps:
                pump.start()

    def _pump(self, src: socket.socket, dst: socket.socket) -> None:
        try:
            while data := src.recv(_CHUNK):
                if self._frozen.is_set():
                    with self._lock:
                        self.bytes_dropped += len(data)
                    continue
                dst.sendall(data)
                with self._lock:
                    self.bytes_forwarded += len(data)
        except OSError:
            pass
        # Pass an orderly close on (half-close), but never while frozen: a frozen camera
        # does not say goodbye either; nor after a reset, whose RST must be all the client gets.
        with self._lock:
            was_reset = src in self._reset or dst in self._reset
        if not self._frozen.is_set() and not was_reset:
            with contextlib.suppress(OSError):
                dst.shutdown(socket.SHUT_WR)
