"""Site files for tests, pointing at the real test servers."""

from __future__ import annotations

from pathlib import Path


def write_rtsp_site(path: Path, base: str, extra_dead: bool = True) -> Path:
    """A site whose cameras are the RTSP test server's mounts (and one dead camera)."""
    dead = (
        """
  - id: dead
    name: Dead camera
    neighbourhood: centro
    kind: fixed-dome
    streams:
      main: rtsp://127.0.0.1:9/nothing
"""
        if extra_dead
        else ""
    )
    path.write_text(
        f"""schema_version: 1
name: RTSP test site
neighbourhoods:
  - id: centro
    name: Centro
  - id: po
    name: Po
cameras:
  - id: cam1
    name: Camera one
    neighbourhood: centro
    kind: fixed-dome
    streams:
      main: {base}/cam1/main
      sub: {base}/cam1/sub
  - id: cam2
    name: Camera two
    neighbourhood: po
    kind: ptz-dome
    streams:
      main: {base}/cam2/main
      sub: {base}/cam2/sub
  - id: cam3
    name: Camera three HEVC
    neighbourhood: po
    kind: fixed-dome
    streams:
      main: {base}/h265/main
{dead}"""
    )
    return path
