"""The fleet's side of the RTSP relay: runs ``rtsp_relay.py`` under the system python."""

from __future__ import annotations

import collections
import contextlib
import json
import logging
import os
import subprocess
import sys
import threading
import time
from collections.abc import Callable, Mapping, Sequence
from pathlib import Path
from typing import Any

log = logging.getLogger(__name__)

SCRIPT = Path(__file__).with_name("rtsp_relay.py")
# Debian's interpreter: python3-gi and gst-rtsp-server's typelib are installed for it only.
ENV_PYTHON = "TORRAZZO_RTSP_PYTHON"
DEFAULT_PYTHON = "/usr/bin/python3"
DEBIAN_PACKAGES = (
    "python3-gi gir1.2-gstreamer-1.0 gir1.2-gst-rtsp-server-1.0 gstreamer1.0-rtsp "
    "gstreamer1.0-plugins-base gstreamer1.0-plugins-good gstreamer1.0-plugins-bad"
)
EXIT_NO_BINDINGS = 3
EXIT_CANNOT_LISTEN = 5
READY_TIMEOUT = 15.0


def system_python() -> str:
    return os.environ.get(ENV_PYTHON, DEFAULT_PYTHON)


class RelayUnavailable(RuntimeError):
    """The relay cannot run here (no system python, no bindings, script not shipped)."""


class RelayError(RuntimeError):
    """The relay started but failed (port taken, crashed before READY)."""

    def __init__(self, message: str, returncode: int | None = None) -> None:
        super().__init__(message)
        self.returncode = returncode


class RelayProcess:
    """One run of the relay child; ``start`` spawns it, ``wait_ready`` waits for READY.

    Thread: ``start``, ``wait_ready``, ``send`` and ``stop`` from any thread (``send`` is
    locked); ``on_exit`` is called from the reader thread when the child ends on its own.
    """

    def __init__(
        self,
        config: Mapping[str, Any],
        port: int,
        *,
        python: str | None = None,
        on_exit: Callable[[RelayProcess], None] | None = None,
    ) -> None:
        self.python = python or system_python()
        self.requested_port = port
        self.port = 0
        self._config = dict(config)
        self._on_exit = on_exit
        self._proc: subprocess.Popen[bytes] | None = None
        self._ready = threading.Event()
        self._ended = threading.Event()
        self._stopping = False
        self._lock = threading.Lock()
        self._output: collections.deque[str] = collections.deque(maxlen=100)
        self.returncode: int | None = None

    @property
    def output(self) -> str:
        return "".join(self._output)

    @property
    def running(self) -> bool:
        return self._proc is not None and self._proc.poll() is None

    @property
    def pid(self) -> int | None:
        return self._proc.pid if self._proc is not None else None

    def start(self) -> None:
        """Spawn the child (returns at once); raises RelayUnavailable."""
        if getattr(sys, "frozen", False) or not SCRIPT.is_file():
            raise RelayUnavailable(f"the relay script {SCRIPT.name} is not shipped with this build")
        if not Path(self.python).is_file():
            raise RelayUnavailable(f"{self.python} not found")
        # The venv's settings must not leak into the system interpreter.
        env = {
            k: v
            for k, v in os.environ.items()
            if k not in ("PYTHONPATH", "PYTHONHOME", "VIRTUAL_ENV", "PYTHONSTARTUP")
        }
        self._proc = subprocess.Popen(
            [self.python, str(SCRIPT), "--port", str(self.requested_port)],
            stdin=subprocess.PIPE,  # its EOF (our exit, even a crash) makes the relay exit
            stdout=subprocess.PIPE,
            stderr=subprocess.STDOUT,
            env=env,
            start_new_session=True,  # Ctrl-C in a terminal reaches us, and we stop it
        )
        assert self._proc.stdin is not None
        self._proc.stdin.write(json.dumps(self._config).encode() + b"\n")
        self._proc.stdin.flush()
        threading.Thread(
            target=self._read, args=(self._proc,), name="demo-rtsp-relay", daemon=True
        ).start()

    def wait_ready(self, timeout: float = READY_TIMEOUT) -> int:
        """The bound port once READY; raises RelayUnavailable or RelayError."""
        deadline = time.monotonic() + timeout
        while not self._ready.wait(0.02):
            if self._ended.is_set():
                rc = self.returncode
                if rc == EXIT_NO_BINDINGS:
                    raise RelayUnavailable(
                        f"{self.python} cannot import gst-rtsp-server's bindings "
                        f"(apt-get install {DEBIAN_PACKAGES}): {self.output.strip()}"
                    )
                raise RelayError(f"RTSP relay exited ({rc}): {self.output.strip()}", rc)
            if time.monotonic() > deadline:
                self.stop()
                raise RelayError(f"RTSP relay not ready within {timeout:.0f} s: {self.output}")
        return self.port

    def send(self, line: str) -> bool:
        """Write one command line; False when the child is gone."""
        with self._lock:
            proc = self._proc
            if proc is None or proc.stdin is None or proc.poll() is not None:
                return False
            try:
                proc.stdin.write(line.encode() + b"\n")
                proc.stdin.flush()
            except (BrokenPipeError, ValueError, OSError):
                return False
        return True

    def set_states(self, states: Mapping[str, str]) -> bool:
        return all(self.send(f"state {cam} {state}") for cam, state in states.items())

    def stop(self, timeout: float = 3.0) -> None:
        """Close its stdin, then SIGTERM, then SIGKILL; waits for it."""
        self._stopping = True
        proc = self._proc
        if proc is None:
            return
        with self._lock:
            if proc.stdin is not None:
                with contextlib.suppress(OSError):
                    proc.stdin.close()
        try:
            proc.wait(timeout / 2)
        except subprocess.TimeoutExpired:
            proc.terminate()
            try:
                proc.wait(timeout / 2)
            except subprocess.TimeoutExpired:
                proc.kill()
                proc.wait(timeout)
        self._ended.wait(timeout)

    def _read(self, proc: subprocess.Popen[bytes]) -> None:
        assert proc.stdout is not None
        for raw in proc.stdout:
            line = raw.decode("utf-8", "replace")
            if line.startswith("READY port=") and not self._ready.is_set():
                self.port = int(line.split("=", 1)[1])
                self._ready.set()
                continue
            self._output.append(line)
            log.debug("rtsp relay: %s", line.rstrip())
        self.returncode = proc.wait()
        proc.stdout.close()
        self._ended.set()
        if not self._stopping and self._ready.is_set() and self._on_exit is not None:
            self._on_exit(self)


def start_relay(
    config: Mapping[str, Any],
    ports: Sequence[int],
    *,
    python: str | None = None,
    on_exit: Callable[[RelayProcess], None] | None = None,
    timeout: float = READY_TIMEOUT,
) -> RelayProcess:
    """A READY relay on the first of ``ports`` it can bind (0 = any free port)."""
    error: RelayError | None = None
    for port in ports:
        relay = RelayProcess(config, port, python=python, on_exit=on_exit)
        relay.start()
        try:
            relay.wait_ready(timeout)
        except RelayError as exc:
            error = exc
            if exc.returncode == EXIT_CANNOT_LISTEN:
                continue
            raise
        return relay
    assert error is not None
    raise error
