"""PtzVector: speeds (or steps) per axis, the unit every PTZ input and controller speaks."""

from __future__ import annotations

from dataclasses import dataclass
from typing import ClassVar


def _clamp(v: float, lo: float = -1.0, hi: float = 1.0) -> float:
    return lo if v < lo else hi if v > hi else v


@dataclass(frozen=True, slots=True)
class PtzVector:
    """Pan (+ right), tilt (+ up), zoom (+ in); speeds are in [-1, 1] per axis."""

    pan: float = 0.0
    tilt: float = 0.0
    zoom: float = 0.0

    ZERO: ClassVar[PtzVector]

    @property
    def is_zero(self) -> bool:
        return self.pan == 0.0 and self.tilt == 0.0 and self.zoom == 0.0

    def clamped(self) -> PtzVector:
        return PtzVector(_clamp(self.pan), _clamp(self.tilt), _clamp(self.zoom))

    def rounded(self, step: float = 0.01) -> PtzVector:
        """Quantised, so tiny jitter of a hand or a stick does not count as a new command."""
        return PtzVector(
            round(round(self.pan / step) * step, 6) + 0.0,
            round(round(self.tilt / step) * step, 6) + 0.0,
            round(round(self.zoom / step) * step, 6) + 0.0,
        )


PtzVector.ZERO = PtzVector()
