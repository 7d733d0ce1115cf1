"""Colours and labels shared by the views (status colours are the same everywhere)."""

from __future__ import annotations

from PySide6.QtGui import QColor

from app.streams.status import CameraStatus, StreamState

STATE_COLOURS: dict[str, QColor] = {
    "idle": QColor(110, 110, 110),
    "connecting": QColor(230, 180, 40),
    "live": QColor(40, 180, 80),
    "degraded": QColor(230, 140, 30),
    "stalled": QColor(230, 120, 30),
    "offline": QColor(210, 50, 50),
    "unauthorized": QColor(170, 60, 200),
    "unsupported": QColor(120, 120, 200),
    "error": QColor(210, 50, 50),
}


def state_colour(state: StreamState | CameraStatus | str) -> QColor:
    return STATE_COLOURS.get(str(state), QColor(110, 110, 110))
