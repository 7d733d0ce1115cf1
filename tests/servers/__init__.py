"""Test servers: a controller for the gst-rtsp-server subprocess (script: rtsp_server.py)."""

from __future__ import annotations

import collections
import os
import re
import subprocess
import threading
import time
from collections.abc import Sequence
from pathlib import Path
from types import TracebackType
from typing import Self

SCRIPT = Path(__file__).with_name("rtsp_server.py")
# Debian's interpreter: the GStreamer bindings (python3-gi) are installed for it only.
# TORRAZZO_RTSP_PYTHON overrides it (another distribution, a checkout of the bindings).
SYSTEM_PYTHON = os.environ.get("TORRAZZO_RTSP_PYTHON", "/usr/bin/python3")
DEBIAN_PACKAGES = (  # the same list as in rtsp_server.py, which cannot import this module
    "python3-gi gir1.2-gstreamer-1.0 gir1.2-gst-rtsp-server-1.0 gir1.2-gst-plugins-base-1.0 "
    "gstreamer1.0-rtsp gstreamer1.0-plugins-base gstreamer1.0-plugins-good "
    "gstreamer1.0-plugins-ugly gstreamer1.0-plugins-bad python3-numpy"
)
HOST = "127.0.0.1"
USER = "viewer"
PASSWORD = "s3cret"

_EXIT_NO_BINDINGS = 3
_EXIT_CANNOT_LISTEN = 5
_READY = re.compile(r"^READY port=(\d+)$")


class RtspServerError(RuntimeError):
    """The RTSP test server did not start."""


class RtspServerUnavailable(RtspServerError):
    """The machine lacks the Debian packages the RTSP test server needs."""


class RtspServerProcess:
    """Runs ``rtsp_server.py`` with Debian's python; restartable on the same port.

    ``extra_args`` go to the script (``--extra``, ``--mount``, ``--no-defaults``). The
    first ``start()`` lets the server pick a free port; later ones reuse it, so a
    client can watch a camera go offline and come back.
    """

    def __init__(
        self,
        extra_args: Sequence[str] = (),
        *,
        port: int = 0,
        python: str = SYSTEM_PYTHON,
        ready_timeout: float = 20.0,
    ) -> None:
        self.extra_args = list(extra_args)
        self.python = python
        self.ready_timeout = ready_timeout
        self._port = port
        self._proc: subprocess.Popen[str] | None = None
        self._reader: threading.Thread | None = None
        self._output: collections.deque[str] = collections.deque(maxlen=200)
        self._ready = threading.Event()
        self.returncode: int | None = None  # exit status of the last server process

    @property
    def port(self) -> int:
        if not self._port:
            raise RtspServerError("the server has not been started yet")
        return self._port

    @property
    def running(self) -> bool:
        return self._proc is not None and self._proc.poll() is None

    @property
    def output(self) -> str:
        """The server's recent stdout and stderr, for failure messages."""
        return "".join(self._output)

    def url(self, mount: str, *, user: str | None = None, password: str | None = None) -> str:
        """``rtsp://127.0.0.1:PORT/mount``, with credentials when given."""
        auth = f"{user}:{password}@" if user is not None else ""
        return f"rtsp://{auth}{HOST}:{self.port}/{mount.lstrip('/')}"

    def start(self) -> None:
        """Start the server and wait until it serves; no-op when already running."""
        if self.running:
            return
        self._reap()
        if not Path(self.python).exists():
            raise RtspServerUnavailable(
                f"{self.python} not found; install Debian's python3 and: apt-get install "
                f"{DEBIAN_PACKAGES}"
            )
        deadline = time.monotonic() + self.ready_timeout
        while True:
            rc = self._spawn(deadline)
            if rc is None:
                return
            if rc == _EXIT_NO_BINDINGS:
                raise RtspServerUnavailable(
                    f"{self.python} cannot import GStreamer's RTSP server bindings; install the "
                    f"Debian packages: apt-get install {DEBIAN_PACKAGES}\nserver output:\n"
                    f"{self.output}"
                )
            # On a fixed port a restart can race the old socket's teardown: retry briefly.
            if rc == _EXIT_CANNOT_LISTEN and self._port and time.monotonic() < deadline:
                time.sleep(0.2)
                continue
            raise RtspServerError(f"RTSP test server failed (exit status {rc}):\n{self.output}")

    def _spawn(self, deadline: float) -> int | None:
        """Run the script once; None when it is serving, else its exit status."""
        env = {
            k: v
            for k, v in os.environ.items()
            # The venv's settings must not leak into Debian's interpreter.
            if k not in ("PYTHONPATH", "PYTHONHOME", "VIRTUAL_ENV", "PYTHONSTARTUP")
        }
        self._output.clear()
        self._ready.clear()
        proc = subprocess.Popen(
            [
                self.python,
                str(SCRIPT),
                "--port",
                str(self._port),
                "--watch-stdin",
                *self.extra_args,
            ],
            stdin=subprocess.PIPE,  # closing it (or our death) makes the server exit
            stdout=subprocess.PIPE,
            stderr=subprocess.STDOUT,
            text=True,
            env=env,
        )
        self._proc = proc
        self._reader = threading.Thread(
            target=self._read, args=(proc,), name="rtsp-server-out", daemon=True
        )
        self._reader.start()
        while not self._ready.wait(0.05):
            if proc.poll() is not None:
                self._reap()
                return proc.returncode
            if time.monotonic() > deadline:
                self.stop()
                raise RtspServerError(
                    f"RTSP test server not ready within {self.ready_timeout:.0f} s:\n{self.output}"
                )
        return None

    def _read(self, proc: subprocess.Popen[str]) -> None:
        assert proc.stdout is not None
        for line in proc.stdout:
            self._output.append(line)
            m = _READY.match(line.strip())
            if m:
                self._port = int(m.group(1))
                self._ready.set()

    def stop(self, timeout: float = 5.0) -> None:
        """Stop the server (SIGTERM, then SIGKILL) and wait for it; no-op when stopped."""
        proc = self._proc
        if proc is None:
            return
        if proc.poll() is None:
            proc.terminate()
            try:
                proc.wait(timeout)
            except subprocess.TimeoutExpired:
                proc.kill()
                proc.wait(timeout)
        self._reap()

    def _reap(self) -> None:
        proc, self._proc = self._proc, None
        if proc is None:
            return
        self.returncode = proc.wait()
        if proc.stdin is not None:
            proc.stdin.close()
        if self._reader is not None:
            self._reader.join(5.0)
            self._reader = None
        if proc.stdout is not None:
            proc.stdout.close()

    def __enter__(self) -> Self:
        self.start()
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.stop()
