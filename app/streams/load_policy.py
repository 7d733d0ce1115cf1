"""Load-driven stream policy: demote tiles while decoding falls behind, promote them as it recovers.

The size-driven choice (``policy.choose_role``) says what a tile *should* decode; this policy
says what the machine *can*. When streams fall behind real time (or the display clock runs
late), it demotes non-focused tiles one step at a time: main → sub for the largest tiles
first (a main stream costs the most), then sub → key frames only for the smallest first
(every sub stream costs about the same; the smallest tiles lose the least). When all streams
keep up again for long enough it promotes them back, one at a time, the most visible first;
a promotion that brings the overload back doubles the wait before the next one.

Pure logic: the caller passes each tile's state and an injected clock decides the timing.
"""

from __future__ import annotations

import enum
import math
import time
from collections.abc import Callable, Hashable, Sequence
from dataclasses import dataclass

from app.site.model import StreamRole


class LoadLevel(enum.IntEnum):
    """How far the load policy has demoted a tile (the size policy still applies on top)."""

    FULL = 0  # whatever the tile's size calls for
    SUB = 1  # at most the sub stream
    KEYFRAMES = 2  # the sub stream (or the only one), key frames only


class LoadReason(enum.StrEnum):
    """Why a tile was demoted (shown on the tile's badge)."""

    NONE = ""
    DECODE = "decoding behind"
    DISPLAY = "display late"
    STARTING = "starting"  # a big wall's staged start: key frames until admitted


@dataclass(frozen=True, slots=True)
class TileLoad:
    """One tile as the policy sees it."""

    key: Hashable
    area: int  # device pixels on screen
    focused: bool  # the operator's tile: never demoted
    level: LoadLevel
    role: StreamRole | None  # what it decodes now (None: nothing yet)
    has_sub: bool  # a sub stream exists to fall back to
    lag_ms: float | None  # how far its decoding is behind the stream's own clock
    starting: bool = False  # on key frames only until the staged start admits it


@dataclass(frozen=True, slots=True)
class LoadDecision:
    level: LoadLevel
    reason: LoadReason


@dataclass(frozen=True, slots=True)
class LoadConfig:
    """Thresholds and timing. The gaps between the pairs are the hysteresis."""

    behind_ms: float = 400.0  # a stream this far behind is falling behind
    caught_up_ms: float = 150.0  # every stream within this: the machine keeps up
    overload_share: float = 0.15  # this share of the streams behind (at least one) = overload
    display_late_ms: float = 50.0  # display clock lateness (p95 of the last second) = overload
    display_calm_ms: float = 20.0
    # Lateness this many times the limit, or this share of the streams behind: demote twice
    # as many tiles per step, twice as often (the wall is starving: act faster).
    severe_factor: float = 3.0
    severe_share: float = 0.5
    demote_every_s: float = 2.0  # a demoted stream needs this long to drain its backlog
    promote_after_s: float = 15.0  # calm this long before one promotion
    promote_backoff_max_s: float = 240.0
    relapse_within_s: float = 20.0  # overload this soon after a promotion: back off
    step_share: float = 0.25  # share of the candidates demoted in one step (at least one)
    # Staged start of a big wall (see LoadPolicy): tiles admitted to full rate per update.
    start_batch: int = 4
    start_patience_s: float = 10.0  # overloaded this long before any admission: stop waiting


class LoadPolicy:
    """Decides each tile's LoadLevel from the streams' lag and the display clock's lateness.

    Staged start: the tiles of a big wall open on key frames only ("starting", see
    ``QtWall``), so that 64 streams opening at once do not bury each other's first
    picture under a second or more of full-rate decoding (2 cores: 0.1-4 s, BENCHMARKS.md).
    Each update without overload admits ``start_batch`` of them to full rate, those with a
    picture and the largest first; the first overload after an admission ends the ramp and
    the tiles still starting become ordinary demoted tiles (promoted back one at a time).

    Thread: whichever calls ``update`` (the GUI's 1 Hz clock); no locking.
    """

    def __init__(
        self, config: LoadConfig | None = None, clock: Callable[[], float] = time.monotonic
    ) -> None:
        self.config = config or LoadConfig()
        self._clock = clock
        self._last_demotion = -math.inf
        self._last_promotion = -math.inf
        self._calm_since: float | None = None
        self._promote_wait = self.config.promote_after_s
        self._reasons: dict[Hashable, LoadReason] = {}
        self.overloaded = False
        self.reason = LoadReason.NONE
        self._admitted = False  # the staged start has admitted a tile to full rate
        self._start_since: float | None = None  # tiles have been starting since
        self.demotions = 0  # tiles demoted / promoted so far (one step each), for statistics
        self.promotions = 0

    @property
    def promote_wait_s(self) -> float:
        """Current calm time needed before the next promotion (grows after relapses)."""
        return self._promote_wait

    def update(
        self, tiles: Sequence[TileLoad], display_late_ms: float | None = None
    ) -> dict[Hashable, LoadDecision]:
        """New level and reason for every tile whose level should change."""
        c = self.config
        now = self._clock()
        known = [t for t in tiles if t.lag_ms is not None]
        behind = [t for t in known if t.lag_ms is not None and t.lag_ms > c.behind_ms]
        late = display_late_ms is not None and display_late_ms > c.display_late_ms
        decode_overload = len(behind) >= max(1, math.ceil(c.overload_share * len(known)))
        decode_overload = bool(known) and decode_overload
        self.overloaded = decode_overload or late
        if decode_overload:
            self.reason = LoadReason.DECODE
        else:
            self.reason = LoadReason.DISPLAY if late else LoadReason.NONE
        calm = all(t.lag_ms is not None and t.lag_ms <= c.caught_up_ms for t in known) and (
            display_late_ms is None or display_late_ms <= c.display_calm_ms
        )
        out: dict[Hashable, LoadDecision] = {}
        # The operator's tile always gets what its size calls for.
        for t in tiles:
            if t.focused and t.level != LoadLevel.FULL:
                out[t.key] = LoadDecision(LoadLevel.FULL, LoadReason.NONE)
        self._reasons = {t.key: self._reasons.get(t.key, LoadReason.NONE) for t in tiles}
        if self.overloaded:
            self._calm_since = None
            severe = len(behind) >= c.severe_share * max(1, len(known)) or (
                display_late_ms is not None
                and display_late_ms > c.severe_factor * c.display_late_ms
            )
            if now - self._last_demotion >= c.demote_every_s / (2.0 if severe else 1.0):
                demoted = self._demote(tiles, self.reason, 2.0 if severe else 1.0)
                if demoted:
                    self._last_demotion = now
                    self.demotions += len(demoted)
                    if now - self._last_promotion <= c.relapse_within_s:
                        # The last promotion brought the overload back: wait longer next time.
                        self._promote_wait = min(c.promote_backoff_max_s, self._promote_wait * 2)
                out.update(demoted)
        elif calm:
            if self._calm_since is None:
                self._calm_since = now
            calm_for = now - self._calm_since
            if calm_for >= self._promote_wait and now - self._last_promotion >= self._promote_wait:
                promoted = self._promote(tiles)
                if promoted:
                    self._last_promotion = now
                    self.promotions += len(promoted)
                    out.update(promoted)
            if calm_for >= 4 * self._promote_wait:
                self._promote_wait = c.promote_after_s  # long calm: forget past relapses
        else:
            self._calm_since = None
        out.update(self._stage_start(tiles, out))
        for key, decision in out.items():
            self._reasons[key] = decision.reason
        return out

    def _stage_start(
        self, tiles: Sequence[TileLoad], decided: dict[Hashable, LoadDecision]
    ) -> dict[Hashable, LoadDecision]:
        starting = [t for t in tiles if t.starting and t.key not in decided]
        now = self._clock()
        if not starting:
            self._admitted = False
            self._start_since = None
            return {}
        if self._start_since is None:
            self._start_since = now
        if self.overloaded:
            waited = now - self._start_since >= self.config.start_patience_s
            if not self._admitted and not waited:
                return {}  # the start itself is busy (window, connections): wait
            # Admissions brought the machine to its limit (or it never had room): the rest
            # stay on key frames as ordinary demoted tiles, saying why.
            reason = self.reason
            return {t.key: LoadDecision(LoadLevel.KEYFRAMES, reason) for t in starting}
        ready = sorted(
            (t for t in starting if t.lag_ms is not None), key=lambda t: (not t.focused, -t.area)
        )
        admitted = ready[: self.config.start_batch]
        if admitted:
            self._admitted = True
        return {t.key: LoadDecision(LoadLevel.FULL, LoadReason.NONE) for t in admitted}

    def _demote(
        self, tiles: Sequence[TileLoad], reason: LoadReason, factor: float = 1.0
    ) -> dict[Hashable, LoadDecision]:
        candidates = [
            t
            for t in tiles
            if not t.focused and t.level < LoadLevel.KEYFRAMES and t.role is not None
        ]
        if not candidates:
            return {}
        count = max(1, math.ceil(min(1.0, self.config.step_share * factor) * len(candidates)))
        # Main streams first, largest first: each one costs several sub streams.
        mains = sorted(
            (t for t in candidates if t.role == StreamRole.MAIN and t.has_sub),
            key=lambda t: -t.area,
        )
        if mains:
            return {t.key: LoadDecision(LoadLevel.SUB, reason) for t in mains[:count]}
        # Then sub streams to key frames only, smallest first.
        subs = sorted(candidates, key=lambda t: t.area)
        return {t.key: LoadDecision(LoadLevel.KEYFRAMES, reason) for t in subs[:count]}

    def _promote(self, tiles: Sequence[TileLoad]) -> dict[Hashable, LoadDecision]:
        demoted = [t for t in tiles if t.level > LoadLevel.FULL]
        if not demoted:
            return {}
        # The most demoted first (key frames only looks broken; sub looks fine), largest first.
        best = max(demoted, key=lambda t: (t.level, t.area))
        level = LoadLevel(best.level - 1)
        reason = LoadReason.NONE
        if level != LoadLevel.FULL:  # still demoted, for the same reason as before
            reason = self._reasons.get(best.key) or LoadReason.DECODE
        return {best.key: LoadDecision(level, reason)}
