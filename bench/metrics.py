"""The wall benchmark's arithmetic: from raw samples to metrics, targets and a markdown table.

Pure functions over plain data (the application's ``--stats-json``, the server's frames
log, CPU and memory samples), so each one is unit-tested without running anything.
"""

from __future__ import annotations

import bisect
import math
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from typing import Any

# Targets of issue 8.
CPU_RATIO_MAX = 1.3
PRESENTED_MIN = 0.99
LATENCY_P95_MAX_MS = 100.0
TTFF_MAX_MS = 300.0  # not counting the wait for the next key frame
SWITCH_MAX_MS = 1000.0  # plus the wait for the next key frame
TIMER_P99_MAX_MS = 50.0
MB_PER_TILE_MAX = 20.0
GROWTH_MAX_MB_PER_MIN = 0.5  # "no growth" over the --long soak, with room for allocator noise


def percentile(values: Iterable[float], q: float) -> float | None:
    """Nearest-rank percentile (q in [0, 100]); None when there are no values."""
    ordered = sorted(values)
    if not ordered:
        return None
    k = max(0, min(len(ordered) - 1, math.ceil(q / 100 * len(ordered)) - 1))
    return ordered[k]


def cpu_percent(before: tuple[float, float], after: tuple[float, float], span_s: float) -> float:
    """(user, system) CPU seconds before and after → % of one core over ``span_s``."""
    if span_s <= 0:
        return 0.0
    used = (after[0] - before[0]) + (after[1] - before[1])
    return 100.0 * used / span_s


def frames_sent_between(stamps_ns: Sequence[int], first_ns: int, last_ns: int) -> int:
    """How many of a source's frames (sorted sender stamps) lie in [first_ns, last_ns]."""
    return bisect.bisect_right(stamps_ns, last_ns) - bisect.bisect_left(stamps_ns, first_ns)


def lateness_after(lateness_ms: Sequence[float], interval_ms: float, skip_s: float) -> list[float]:
    """Lateness samples of a periodic timer after its first ``skip_s`` seconds.

    Tick i fires ``interval + lateness[i]`` after tick i-1, so elapsed time is the running
    sum; the application need not store a time per tick.
    """
    out: list[float] = []
    t = 0.0
    for late in lateness_ms:
        t += (interval_ms + late) / 1000.0
        if t > skip_s:
            out.append(late)
    return out


def rss_slope_mb_per_min(samples: Sequence[tuple[float, float]]) -> float | None:
    """Least-squares slope of (seconds, MB) samples, in MB per minute."""
    if len(samples) < 3:
        return None
    n = len(samples)
    mt = sum(t for t, _ in samples) / n
    mm = sum(m for _, m in samples) / n
    var = sum((t - mt) ** 2 for t, _ in samples)
    if var == 0:
        return None
    cov = sum((t - mt) * (m - mm) for t, m in samples)
    return cov / var * 60.0


@dataclass
class TileResult:
    """One tile's figures, from its entry in the application's statistics."""

    tile: int
    camera: str | None
    source: str | None
    live: bool
    keyframes_only: bool
    presented: int
    sent: int
    ttff_ms: float | None  # stream opened → first frame presented
    ttff_excl_key_ms: float | None  # same, less the wait for the first key frame
    latency_ms: list[float] = field(default_factory=list)
    surface_size: tuple[int, int] = (0, 0)
    load_level: str | None = None

    @property
    def presented_ratio(self) -> float | None:
        return self.presented / self.sent if self.sent else None


def tile_results(
    stats: dict[str, Any],
    mount_source: dict[str, str],
    frames_log: dict[str, Any],
    end_ns: int,
    fresh_s: float = 2.5,
) -> list[TileResult]:
    """Per-tile results for every tile showing a camera.

    A tile is *live* when its stream says so and it presented a frame captured at most
    ``fresh_s`` before the end (a key-frames-only tile shows one a second).
    """
    out = []
    for t in stats.get("tiles", []):
        if not t.get("camera"):
            continue
        url = t.get("url") or ""
        path = "/" + url.split("/", 3)[3] if url.count("/") >= 3 else ""
        source = mount_source.get(path)
        first, last = t.get("first_stamp_ns"), t.get("last_stamp_ns")
        sent = 0
        if source and first and last and source in frames_log:
            sent = frames_sent_between(frames_log[source]["stamps_ns"], first, last)
        opened, shown = t.get("opened_at_ns"), t.get("first_presented_ns")
        ttff = ttff_excl = None
        if opened and shown:
            ttff = (shown - opened) / 1e6
            # The first picture is a key frame; before its capture nothing could be shown.
            ready = max(opened, first) if first else opened
            ttff_excl = (shown - ready) / 1e6
        live = t.get("status") == "live" and last is not None and (end_ns - last) / 1e9 <= fresh_s
        size = t.get("surface_size") or [0, 0]
        out.append(
            TileResult(
                tile=int(t["tile"]),
                camera=t.get("camera"),
                source=source,
                live=live,
                keyframes_only=bool(t.get("keyframes_only")),
                presented=int(t.get("pane_presented", 0)),
                sent=sent,
                ttff_ms=ttff,
                ttff_excl_key_ms=ttff_excl,
                latency_ms=[float(x) for x in t.get("latency_samples", [])],
                surface_size=(int(size[0]), int(size[1])),
                load_level=t.get("load_level"),
            )
        )
    return out


def switch_results(stats: dict[str, Any]) -> list[dict[str, Any]]:
    """Each layout switch: when it was fully live, and how much of that was key-frame wait.

    A tile's deadline is 1 s after the switch plus its own wait for the key frame it
    first showed (switch → that frame's capture), so the worst *excess* decides.
    """
    out = []
    for sw in stats.get("switches", []):
        tiles = sw.get("tiles") or []
        live_ns = sw.get("live_ns")
        if not tiles or live_ns is None:
            out.append({"layout": sw.get("layout"), "live_ms": None, "excess_ms": None})
            continue
        waits = [max(0.0, (cap or 0) / 1e6) for _, cap in tiles]
        shown = [s / 1e6 for s, _ in tiles]
        excess = [s - w for s, w in zip(shown, waits, strict=True)]
        out.append(
            {
                "layout": sw.get("layout"),
                "tiles": len(tiles),
                "live_ms": (live_ns - sw["at_ns"]) / 1e6,
                "key_wait_max_ms": max(waits),
                "excess_ms": max(excess),
            }
        )
    return out


@dataclass
class Check:
    """One target: what was measured, the limit, and whether it passed (None: not run)."""

    scenario: str
    what: str
    measured: str
    target: str
    passed: bool | None

    @property
    def verdict(self) -> str:
        return "—" if self.passed is None else ("PASS" if self.passed else "FAIL")


def fmt(value: float | None, unit: str = "", digits: int = 0) -> str:
    return "n/a" if value is None else f"{value:.{digits}f}{unit}"


def markdown_table(checks: Sequence[Check]) -> str:
    lines = ["| scenario | target | measured | limit | result |", "|---|---|---|---|---|"]
    for c in checks:
        lines.append(f"| {c.scenario} | {c.what} | {c.measured} | {c.target} | {c.verdict} |")
    return "\n".join(lines)
