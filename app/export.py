"""Live snapshot export: a decoded frame as PNG with a JSON sidecar (SHA-256), audited."""

from __future__ import annotations

import concurrent.futures
import hashlib
import json
import logging
import os
import re
import struct
import time
import zlib
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import numpy.typing as npt

from app import __version__
from app.audit import EXPORT as AUDIT_EXPORT
from app.audit import AuditLog, iso_time
from app.events import Signal
from app.streams.frames import PixelFormat, VideoFrame
from app.users import EXPORT, User, can

logger = logging.getLogger(__name__)
PNG_LEVEL = 3  # zlib level: level 6+ costs twice the time for a few per cent on camera pictures


class ExportRefused(PermissionError):
    """The user's role does not allow exports (app.users.EXPORT)."""


@dataclass(frozen=True, slots=True)
class SnapshotSource:
    """What the operator exported: which camera, optic and stream the frame came from."""

    camera_id: str
    camera_name: str
    optic: int  # 1-based, as operators count
    optic_name: str = ""
    stream: str = ""  # "main" or "sub"
    screen: str = "main"  # the window the tile was on
    tile: int = 0  # 1-based
    view: tuple[float, float, float, float] | None = None  # digital zoom / mosaic part shown


@dataclass(frozen=True, slots=True)
class ExportResult:
    png: Path
    sidecar: Path
    sha256: str
    width: int
    height: int
    full_resolution: bool
    encode_ms: float
    meta: dict[str, Any] = field(default_factory=dict)


def frame_to_rgb(frame: VideoFrame) -> npt.NDArray[np.uint8]:
    """The frame as an (h, w, 3) RGB array, at the frame's own size."""
    if frame.format is PixelFormat.BGRA:
        rgb: npt.NDArray[np.uint8] = np.ascontiguousarray(frame.data[:, :, 2::-1])
        return rgb
    import av  # PyAV converts with the stream's colour matrix, as the decoder does

    yuv = av.VideoFrame.from_ndarray(np.ascontiguousarray(frame.data), format="yuv420p")
    out = np.asarray(yuv.reformat(format="rgb24").to_ndarray(), dtype=np.uint8)
    return out


def encode_png(rgb: npt.NDArray[np.uint8], text: dict[str, str] | None = None) -> bytes:
    """A PNG (8-bit RGB, no interlace) of ``rgb``; ``text`` becomes tEXt chunks."""
    h, w = rgb.shape[:2]

    def chunk(kind: bytes, data: bytes) -> bytes:
        body = kind + data
        return struct.pack(">I", len(data)) + body + struct.pack(">I", zlib.crc32(body))

    # Filter type 0 (none) before each row: cheap, and camera noise defeats the others anyway.
    raw = np.empty((h, 1 + w * 3), dtype=np.uint8)
    raw[:, 0] = 0
    raw[:, 1:] = rgb.reshape(h, w * 3)
    out = [b"\x89PNG\r\n\x1a\n", chunk(b"IHDR", struct.pack(">IIBBBBB", w, h, 8, 2, 0, 0, 0))]
    for key, value in (text or {}).items():
        out.append(
            chunk(b"tEXt", key.encode("latin-1") + b"\0" + value.encode("latin-1", "replace"))
        )
    out.append(chunk(b"IDAT", zlib.compress(raw.tobytes(), PNG_LEVEL)))
    out.append(chunk(b"IEND", b""))
    return b"".join(out)


def _write_atomic(path: Path, data: bytes) -> None:
    tmp = path.with_name(f".{path.name}.{os.getpid()}.tmp")
    with open(tmp, "wb") as fh:
        fh.write(data)
        fh.flush()
        os.fsync(fh.fileno())
    os.replace(tmp, path)


def _safe(text: str) -> str:
    return re.sub(r"[^A-Za-z0-9._-]+", "-", text).strip("-") or "camera"


def write_snapshot(
    frame: VideoFrame,
    source: SnapshotSource,
    folder: Path,
    user: str,
    workstation: str,
    exported_at: float,
) -> ExportResult:
    """Encode and write the PNG and its sidecar (both atomically); blocking, call off the GUI."""
    started = time.perf_counter()
    rgb = frame_to_rgb(frame)
    # When the frame was decoded, on the wall clock (the frame carries a monotonic stamp).
    decoded_wall = exported_at - max(0.0, time.monotonic() - frame.decoded_at)
    stamp = time.strftime("%Y%m%d-%H%M%S", time.localtime(exported_at))
    stamp += f"-{int((exported_at % 1) * 1000):03d}"
    base = f"{_safe(source.camera_id)}-optic{source.optic}-{stamp}"
    full = (frame.width, frame.height) == (frame.source_width, frame.source_height)
    meta: dict[str, Any] = {
        "camera": {"id": source.camera_id, "name": source.camera_name},
        "optic": {"number": source.optic, "name": source.optic_name},
        "stream": source.stream,
        "frame_time": iso_time(decoded_wall),
        "exported_at": iso_time(exported_at),
        "user": user,
        "workstation": workstation,
        "screen": source.screen,
        "tile": source.tile,
        "width": frame.width,
        "height": frame.height,
        "decoded_width": frame.source_width,
        "decoded_height": frame.source_height,
        "full_resolution": full,
        "view": list(source.view) if source.view is not None else None,
        "software": f"torrazzo {__version__}",
    }
    png = encode_png(
        rgb,
        {
            "Title": f"{source.camera_id} {source.camera_name} optic {source.optic}",
            "Creation Time": meta["frame_time"],
            "Software": meta["software"],
        },
    )
    sha = hashlib.sha256(png).hexdigest()
    folder.mkdir(parents=True, exist_ok=True)
    png_path = folder / f"{base}.png"
    n = 1
    while png_path.exists():  # two exports in one millisecond: never overwrite evidence
        n += 1
        png_path = folder / f"{base}-{n}.png"
    _write_atomic(png_path, png)
    sidecar = png_path.with_suffix(".json")
    meta["file"] = png_path.name
    meta["bytes"] = len(png)
    meta["sha256"] = sha
    _write_atomic(sidecar, (json.dumps(meta, indent=1, ensure_ascii=False) + "\n").encode())
    ms = (time.perf_counter() - started) * 1000
    return ExportResult(png_path, sidecar, sha, frame.width, frame.height, full, ms, meta)


def verify(sidecar: Path) -> bool:
    """Whether the PNG beside ``sidecar`` still has the SHA-256 the sidecar recorded."""
    meta = json.loads(sidecar.read_text(encoding="utf-8"))
    data = (sidecar.parent / str(meta["file"])).read_bytes()
    return bool(hashlib.sha256(data).hexdigest() == meta["sha256"])


class SnapshotExporter:
    """Writes snapshots on its own thread and appends one audit entry per export written.

    Thread: ``export`` from any thread (the GUI); encoding, writing and the audit append run
    on the ``export`` thread; ``finished``/``failed`` are emitted there (views connect
    through MainThreadBridge).

    Events:
        finished(ExportResult), failed(str): the outcome of each export.
    """

    def __init__(self, folder: Path, user: User, audit: AuditLog) -> None:
        self.folder = folder
        self.user = user
        self.audit = audit
        self.finished: Signal[[ExportResult]] = Signal()
        self.failed: Signal[[str]] = Signal()
        self._pool = concurrent.futures.ThreadPoolExecutor(1, thread_name_prefix="export")

    @property
    def allowed(self) -> bool:
        return can(self.user, EXPORT)

    def export(
        self, frame: VideoFrame, source: SnapshotSource
    ) -> concurrent.futures.Future[ExportResult]:
        """Queue an export; raises ExportRefused if the user may not export."""
        if not self.allowed:
            raise ExportRefused(f"{self.user.name} ({self.user.role}) may not export")
        return self._pool.submit(self._run, frame, source, time.time())

    def _run(self, frame: VideoFrame, source: SnapshotSource, at: float) -> ExportResult:
        try:
            result = write_snapshot(
                frame, source, self.folder, self.user.name, self.audit.workstation, at
            )
            # On disk first, then audited: an entry always names a file that exists.
            self.audit.append(
                AUDIT_EXPORT,
                kind="snapshot",
                camera=source.camera_id,
                optic=source.optic,
                screen=source.screen,
                tile=source.tile,
                file=str(result.png),
                sha256=result.sha256,
                width=result.width,
                height=result.height,
            )
        except Exception as e:
            logger.error("snapshot of %s failed: %s", source.camera_id, e)
            self.failed.emit(f"Snapshot of {source.camera_id} failed: {e}")
            raise
        logger.info("snapshot %s (%.0f ms)", result.png, result.encode_ms)
        self.finished.emit(result)
        return result

    def close(self) -> None:
        """Finish the exports already asked for (evidence is not dropped at exit)."""
        self._pool.shutdown(wait=True)
