"""The ONVIF client: one asyncio loop thread, futures for callers, errors for operators."""

from app.onvif.client import OnvifClient, discover_streams
from app.onvif.errors import OnvifError, OnvifErrorKind
from app.onvif.loop import OnvifLoop, shared_loop
from app.onvif.model import (
    FocusCapabilities,
    FocusStatus,
    MediaProfile,
    PtzCapabilities,
    PtzPresetInfo,
    PtzStatus,
)

__all__ = [
    "FocusCapabilities",
    "FocusStatus",
    "MediaProfile",
    "OnvifClient",
    "OnvifError",
    "OnvifErrorKind",
    "OnvifLoop",
    "PtzCapabilities",
    "PtzPresetInfo",
    "PtzStatus",
    "discover_streams",
    "shared_loop",
]
