"""Saving camera placements (position, heading) back to the site file, with a backup.

The file is edited as a ruamel.yaml round-trip document, so comments, key order, quoting
and flow style survive and only the changed values differ. The result is checked with the
site loader before anything is written; the write is atomic (temp file, fsync, rename) and
the previous version is kept next to it as ``<name>.<timestamp>.bak``.
"""

from __future__ import annotations

import io
import logging
import os
import tempfile
import time
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from ruamel.yaml import YAML
from ruamel.yaml.comments import CommentedMap, CommentedSeq

from app.site.loader import load_site_text
from app.site.model import Site

logger = logging.getLogger(__name__)

KEEP_BACKUPS = 10


class EditError(Exception):
    """A placement that cannot be saved; the site file is left untouched."""


@dataclass(frozen=True, slots=True)
class Placement:
    """New values for one camera; None leaves a value as it is."""

    lat: float | None = None
    lon: float | None = None
    heading: float | None = None
    map_xy: tuple[float, float] | None = None

    def merged(self, newer: Placement) -> Placement:
        return Placement(
            lat=newer.lat if newer.lat is not None else self.lat,
            lon=newer.lon if newer.lon is not None else self.lon,
            heading=newer.heading if newer.heading is not None else self.heading,
            map_xy=newer.map_xy if newer.map_xy is not None else self.map_xy,
        )


def _yaml() -> YAML:
    yaml = YAML(typ="rt")
    yaml.preserve_quotes = True
    yaml.width = 4096  # never re-wrap long flow lists (outlines) of lines we did not touch
    yaml.indent(mapping=2, sequence=4, offset=2)  # the style of docs/SITE_FILE.md
    return yaml


def _number(value: float) -> float | int:
    """Whole degrees stay integers in the file (``heading: 120``, not ``120.0``)."""
    return int(value) if float(value).is_integer() else value


def _set(cam: CommentedMap, key: str, value: Any, after: tuple[str, ...]) -> None:
    if key in cam:
        cam[key] = value
        return
    keys = list(cam.keys())
    pos = len(keys)
    for anchor in after:
        if anchor in cam:
            pos = keys.index(anchor) + 1
            break
    cam.insert(pos, key, value)


def apply_placements(text: str, placements: Mapping[str, Placement]) -> str:
    """The site file ``text`` with ``placements`` (camera id → Placement) applied.

    Turning a multi-optic camera turns every optic by the same angle, so the housing keeps
    its shape. Raises EditError for a camera id that is not in the file.
    """
    yaml = _yaml()
    root = yaml.load(text)
    cameras = root.get("cameras") if isinstance(root, CommentedMap) else None
    if not isinstance(cameras, CommentedSeq):
        raise EditError("the site file has no 'cameras' list")
    by_id = {c.get("id"): c for c in cameras if isinstance(c, CommentedMap)}
    missing = sorted(set(placements) - set(by_id))
    if missing:
        raise EditError(f"cameras not in the site file: {', '.join(missing)}")
    for camera_id, p in placements.items():
        cam = by_id[camera_id]
        if p.lat is not None:
            _set(cam, "lat", _number(round(p.lat, 6)), ("location", "kind"))
        if p.lon is not None:
            _set(cam, "lon", _number(round(p.lon, 6)), ("lat", "location", "kind"))
        if p.map_xy is not None:
            xy = CommentedSeq([_number(round(v, 1)) for v in p.map_xy])
            xy.fa.set_flow_style()
            _set(cam, "map_xy", xy, ("lon", "lat", "location", "kind"))
        if p.heading is not None:
            _turn(cam, p.heading % 360.0)
    out = io.StringIO()
    yaml.dump(root, out)
    return out.getvalue()


def _turn(cam: CommentedMap, heading: float) -> None:
    old = cam.get("heading")
    optics = cam.get("optics")
    if old is None and isinstance(optics, list) and optics and isinstance(optics[0], Mapping):
        old = optics[0].get("heading")
    delta = heading - float(old) if isinstance(old, int | float) else 0.0
    _set(cam, "heading", _number(round(heading, 1)), ("lon", "lat", "location", "kind"))
    if isinstance(optics, list) and delta:
        for optic in optics:
            h = optic.get("heading") if isinstance(optic, CommentedMap) else None
            if isinstance(h, int | float):
                optic["heading"] = _number(round((float(h) + delta) % 360.0, 1))


def backup_path(path: Path, when: float | None = None) -> Path:
    stamp = time.strftime("%Y%m%d-%H%M%S", time.localtime(time.time() if when is None else when))
    return path.with_name(f"{path.name}.{stamp}.bak")


def _atomic_write(path: Path, data: str) -> None:
    fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".tmp", dir=path.parent)
    try:
        with os.fdopen(fd, "w", encoding="utf-8", newline="") as f:
            f.write(data)
            f.flush()
            os.fsync(f.fileno())
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise
    try:  # make the rename itself durable (not possible on every platform)
        dir_fd = os.open(path.parent, os.O_RDONLY)
    except OSError:
        return
    try:
        os.fsync(dir_fd)
    except OSError:
        pass
    finally:
        os.close(dir_fd)


def save_placements(path: Path | str, placements: Mapping[str, Placement]) -> tuple[Site, Path]:
    """Apply ``placements`` to the site file at ``path``; returns (the new Site, the backup).

    The current file on disk is edited (not an old copy), so edits by another console to
    other cameras are kept. Raises EditError; the file is unchanged then.
    """
    path = Path(path)
    try:
        old = path.read_text(encoding="utf-8")
    except OSError as e:
        raise EditError(f"cannot read {path}: {e.strerror or e}") from e
    new = apply_placements(old, placements)
    try:
        site = load_site_text(new, path)
    except Exception as e:  # never write a file the loader would refuse
        raise EditError(f"the edited site file would not load: {e}") from e
    first = backup = backup_path(path)
    n = 1
    while backup.exists():  # two saves within one second keep both versions
        backup = first.with_name(f"{first.name.removesuffix('.bak')}-{n}.bak")
        n += 1
    try:
        _atomic_write(backup, old)
        _atomic_write(path, new)
    except OSError as e:
        raise EditError(f"cannot write {path}: {e.strerror or e}") from e
    _prune_backups(path)
    logger.info("site file %s saved (%d cameras placed); backup %s", path, len(placements), backup)
    return site, backup


def _prune_backups(path: Path) -> None:
    backups = sorted(
        path.parent.glob(f"{path.name}.*.bak"), key=lambda p: (p.stat().st_mtime_ns, p.name)
    )
    for old in backups[:-KEEP_BACKUPS]:
        try:
            old.unlink()
        except OSError as e:
            logger.warning("cannot remove old backup %s: %s", old, e)
