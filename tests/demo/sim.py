"""Runs ``torrazzo-sim`` as a process on a free range of ports, for the CLI tests."""

from __future__ import annotations

import subprocess
import sys
from collections.abc import Sequence
from pathlib import Path

from tests.helpers import random_fleet_base


def start_sim(args: Sequence[str], log_dir: Path) -> tuple[subprocess.Popen[str], int, str, Path]:
    """(process, base port, banner, stderr file) of a torrazzo-sim that printed its banner.

    Another program may hold a port of a random range: a sim that exits before its banner
    is retried on another range (its stderr file says why).
    """
    for attempt in range(10):
        base = random_fleet_base()
        err = log_dir / f"sim-{attempt}.err"
        with err.open("w") as err_file:
            proc = subprocess.Popen(
                [sys.executable, "-m", "app.demo.cli", "--port", str(base), *args],
                stdout=subprocess.PIPE,
                stderr=err_file,
                text=True,
            )
        assert proc.stdout is not None
        lines = []
        for line in proc.stdout:
            lines.append(line)
            if "Ctrl-C" in line:
                return proc, base, "".join(lines), err
        # End of output without the banner's last line: it exited (a port was taken).
        proc.wait(10)
    raise AssertionError(f"torrazzo-sim did not start; last stderr:\n{err.read_text()}")
